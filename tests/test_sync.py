"""``ocistore sync`` and ``repo copy`` against two real registries and OCI layouts.

The source registry is anonymous, the target uses token auth (credentials come from the config
through ``${ENV}``). One config of 11 entries covers single images, repositories with regex,
version and newest-N filters, a multi-platform index with a platform filter, referrers,
digest tags, a layout as source and as target, and a repository whose tag moves.
"""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ocistore import Client
from ocistore.settings import HostConfig, Settings
from ocistore.sync import Sync, load_config
from ocistore.testing import content
from tests.support.registry import RunningRegistry
from tests.test_cli import OCISTORE, cli_env, run

pytestmark = pytest.mark.registry

_REQUEST = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/\S*) HTTP')


def _push(client: Client, ref: str, image: content.Image, *, child: bool = False) -> None:
    parsed = client.parse(ref)
    for sub in image.children:
        _push(client, str(parsed.with_digest(sub.digest)), sub, child=True)
    for digest, data in image.blobs.items():
        client.blob_put(parsed, io.BytesIO(data), digest=digest, length=len(data))
    client.manifest_put(parsed, image.manifest, child=child)


def _client(token: RunningRegistry) -> Client:
    host = HostConfig(token.host, tls="disabled", username=token.username, password=token.password)
    return Client(settings=Settings(docker_config=False).with_host(host))


def _requests(reg: RunningRegistry, since: int) -> list[tuple[str, str]]:
    """``(method, path)`` of every API request in the registry's access log after ``since``."""
    text = reg.log_file.read_bytes()[since:].decode(errors="replace")
    return [(m.group(1), m.group(2)) for m in _REQUEST.finditer(text)]


def _log_size(*regs: RunningRegistry) -> list[int]:
    time.sleep(0.3)  # the registry writes its access log line after answering
    return [r.log_file.stat().st_size for r in regs]


@dataclass
class World:
    """The sources, the config mirroring them, and how to run it."""

    src: RunningRegistry
    dst: RunningRegistry
    prefix: str
    config: Path
    env: dict[str, str]
    tmp: Path
    images: dict[str, content.Image]

    def sync(self, *args: str, expect: int | None = 0) -> dict[str, Any]:
        proc = subprocess.run(
            [str(OCISTORE), "sync", *args, "--format", "json", str(self.config)],
            capture_output=True,
            env=self.env,
            timeout=300,
            check=False,
        )
        if expect is not None:
            assert proc.returncode == expect, proc.stderr.decode()
        report: dict[str, Any] = json.loads(proc.stdout)
        return report

    def a(self, name: str) -> str:
        return f"{self.src.host}/{self.prefix}/{name}"

    def b(self, name: str) -> str:
        return f"{self.dst.host}/{self.prefix}/{name}"


APP_TAGS = ["1.0", "1.1", "1.2", "2.0", "2.1-rc1", "latest"]


def _config(src: str, dst: str, p: str, tmp: Path) -> str:
    return f"""
version = 1
[defaults]
parallel = 4
backup = "{{tag}}-backup-{{date}}"

[hosts."{dst}"]
user = "${{SYNC_TEST_USER}}"
password = "${{SYNC_TEST_PASSWORD}}"
requests = 4

[[sync]]
name = "single"
source = "{src}/{p}/app:1.0"
target = "{dst}/{p}/single"

[[sync]]
name = "filtered"
source = "{src}/{p}/app"
target = "{dst}/{p}/app-all"
tags.allow = ['1\\..*', '2\\..*']
tags.deny = ['.*-rc.*']

[[sync]]
name = "semver"
source = "{src}/{p}/app"
target = "{dst}/{p}/app-semver"
tags.semver = ">=1.1,<2"

[[sync]]
name = "newest"
source = "{src}/{p}/app"
target = "{dst}/{p}/app-newest"
tags.newest = 2

[[sync]]
name = "arm-only"
source = "{src}/{p}/multi:v1"
target = "{dst}/{p}/multi-arm:v1"
platforms = ["linux/arm64"]

[[sync]]
name = "index"
source = "{src}/{p}/multi:v1"
target = "{dst}/{p}/multi:v1"

[[sync]]
name = "referrers"
source = "{src}/{p}/signed:v1"
target = "{dst}/{p}/signed:v1"
referrers = true

[[sync]]
name = "digest-tags"
source = "{src}/{p}/cosign:v1"
target = "{dst}/{p}/cosign:v1"
digest_tags = true

[[sync]]
name = "from-layout"
source = "ocidir://{tmp}/layout:v1"
target = "{dst}/{p}/fromdir:v1"

[[sync]]
name = "to-layout"
source = "{src}/{p}/app:2.0"
target = "ocidir://{tmp}/out:2.0"

[[sync]]
name = "moving"
source = "{src}/{p}/moving"
target = "{dst}/{p}/moving"
"""


@pytest.fixture(scope="module")
def world(
    registry_anon: RunningRegistry,
    registry_token: RunningRegistry,
    tmp_path_factory: pytest.TempPathFactory,
) -> World:
    tmp = tmp_path_factory.mktemp("sync")
    prefix = f"s{uuid.uuid4().hex[:8]}"
    w = World(
        registry_anon,
        registry_token,
        prefix,
        tmp / "mirror.toml",
        {
            **cli_env(tmp),
            "SYNC_TEST_USER": registry_token.username or "",
            "SYNC_TEST_PASSWORD": registry_token.password or "",
        },
        tmp,
        {},
    )
    w.config.write_text(_config(registry_anon.host, registry_token.host, prefix, tmp))
    images = w.images
    with Client() as client:
        for i, tag in enumerate(APP_TAGS):
            images[f"app:{tag}"] = content.oci_image(f"{prefix}-app-{i}", layers=1)
            _push(client, f"{w.a('app')}:{tag}", images[f"app:{tag}"])
        images["multi:v1"] = content.index_of(
            [
                content.oci_image(f"{prefix}-amd", layers=1),
                content.oci_image(f"{prefix}-arm", platform="linux/arm64", layers=1),
            ]
        )
        _push(client, f"{w.a('multi')}:v1", images["multi:v1"])
        signed = images["signed:v1"] = content.oci_image(f"{prefix}-signed", layers=1)
        _push(client, f"{w.a('signed')}:v1", signed)
        sbom = images["sbom"] = content.artifact(signed.manifest.descriptor())
        _push(client, f"{w.a('signed')}@{sbom.digest}", sbom)
        cosign = images["cosign:v1"] = content.oci_image(f"{prefix}-cosign", layers=1)
        _push(client, f"{w.a('cosign')}:v1", cosign)
        sig = images["sig"] = content.artifact(None, artifact_type="application/vnd.dev.sig")
        d = cosign.digest
        _push(client, f"{w.a('cosign')}:{d.algorithm}-{d.encoded}.sig", sig)
        images["layout:v1"] = content.oci_image(f"{prefix}-layout", layers=1)
        _push(client, f"ocidir://{tmp}/layout:v1", images["layout:v1"])
        for tag in ("v1", "v2"):
            images[f"moving:{tag}"] = content.oci_image(f"{prefix}-moving-{tag}", layers=1)
            _push(client, f"{w.a('moving')}:{tag}", images[f"moving:{tag}"])
    return w


def _units(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for e in report["entries"] for t in e["tags"]}


def test_mirror_lifecycle(world: World) -> None:
    w, img = world, world.images
    # -- first run: everything is copied, and every digest matches its source ------------------
    first = w.sync("run")
    assert first["ok"] and first["failed"] == 0 and first["failedEntries"] == []
    units = _units(first)
    assert len(first["entries"]) == 11
    assert {t["status"] for t in units.values()} == {"copied"}
    assert first["copied"] == len(units) == 17
    expected = {
        w.b("single:1.0"): img["app:1.0"].digest,
        **{w.b(f"app-all:{t}"): img[f"app:{t}"].digest for t in ("1.0", "1.1", "1.2", "2.0")},
        **{w.b(f"app-semver:{t}"): img[f"app:{t}"].digest for t in ("1.1", "1.2")},
        **{w.b(f"app-newest:{t}"): img[f"app:{t}"].digest for t in ("1.2", "2.0")},
        w.b("multi:v1"): img["multi:v1"].digest,
        w.b("signed:v1"): img["signed:v1"].digest,
        w.b("cosign:v1"): img["cosign:v1"].digest,
        w.b("fromdir:v1"): img["layout:v1"].digest,
        f"ocidir://{w.tmp}/out:2.0": img["app:2.0"].digest,
        w.b("moving:v1"): img["moving:v1"].digest,
        w.b("moving:v2"): img["moving:v2"].digest,
    }
    assert set(units) == {*expected, w.b("multi-arm:v1")}
    with _client(w.dst) as client:
        for target, digest in expected.items():
            assert client.image_digest(target) == digest, target
            assert units[target]["digest"] == str(digest)
        # the platform filter wrote a smaller index holding only the arm64 image, unchanged
        arm = client.manifest_get(w.b("multi-arm:v1"))
        assert [d.digest for d in arm.manifests] == [img["multi:v1"].children[1].digest]
        assert units[w.b("multi-arm:v1")]["digest"] == str(arm.digest)
        # referrers and digest tags came along
        signed = img["signed:v1"].digest
        assert [d.digest for d in client.referrers(w.b("signed"), digest=signed)] == [
            img["sbom"].digest
        ]
        sig_tag = f"sha256-{img['cosign:v1'].digest.encoded}.sig"
        assert client.image_digest(f"{w.b('cosign')}:{sig_tag}") == img["sig"].digest

    # -- second run: nothing to copy, and nothing but reads reach either registry ---------------
    before = _log_size(w.src, w.dst)
    second = w.sync("run")
    assert (second["copied"], second["skipped"], second["failed"]) == (0, 17, 0)
    seen = _requests(w.src, before[0]) + _requests(w.dst, before[1])
    assert seen and {m for m, _ in seen} <= {"HEAD", "GET"}
    gets = [path for m, path in seen if m == "GET"]
    assert not [p for p in gets if "/blobs/" in p]
    # Besides HEADs: the 4 repository entries list their tags; the platform entry reads the
    # source index to compute its filtered digest; and the two entries a HEAD cannot settle
    # (referrers, digest tags) read their manifests, referrers and tag list in the copy engine.
    other = [p for p in gets if "/tags/list" not in p and not re.search("/(signed|cosign)/", p)]
    assert other == [f"/v2/{w.prefix}/multi/manifests/{img['multi:v1'].digest}"]
    assert len([p for p in gets if p.endswith("/app/tags/list")]) == 3
    assert len([p for p in gets if p.endswith("/moving/tags/list")]) == 1

    # -- upstream changes: a new tag, a moved tag, a deleted tag -------------------------------
    with Client() as client:
        img["app:1.3"] = content.oci_image(f"{w.prefix}-app-1.3", layers=1)
        _push(client, f"{w.a('app')}:1.3", img["app:1.3"])
        img["moving:v1-new"] = content.oci_image(f"{w.prefix}-moving-new", layers=1)
        _push(client, f"{w.a('moving')}:v1", img["moving:v1-new"])
        client.manifest_delete(f"{w.a('app')}@{img['app:1.1'].digest}")  # deletes tag 1.1

    # -- check: reports exactly the drift, exits 1, writes nothing ------------------------------
    before = _log_size(w.dst)
    check = w.sync("check", expect=1)
    drift = {t["target"]: t["reason"] for t in _units(check).values() if t["status"] == "drift"}
    assert drift == {
        w.b("app-all:1.3"): "missing",
        w.b("app-semver:1.3"): "missing",
        w.b("app-newest:1.3"): "missing",  # newest 2 is now 1.3 and 2.0
        w.b("moving:v1"): "differs",
    }
    assert check["drift"] == 4 and check["copied"] == 0 and not check["ok"]
    assert {m for m, _ in _requests(w.dst, before[0])} <= {"HEAD", "GET"}
    # the tag deleted upstream is not a unit any more: nothing is said or done about it
    assert w.b("app-all:1.1") not in _units(check)

    # -- run: the moved tag is picked up, its old content kept under the backup tag -------------
    third = w.sync("run")
    assert third["copied"] == 4 and third["failed"] == 0
    moved = _units(third)[w.b("moving:v1")]
    backup = f"v1-backup-{time.strftime('%Y%m%d', time.gmtime())}"
    assert moved["backup"] == backup
    with _client(w.dst) as client:
        assert client.image_digest(w.b("moving:v1")) == img["moving:v1-new"].digest
        assert client.image_digest(f"{w.b('moving')}:{backup}") == img["moving:v1"].digest
        # left alone: the tag deleted upstream, and the tag that fell out of "newest 2"
        assert client.image_digest(w.b("app-all:1.1")) == img["app:1.1"].digest
        assert client.image_digest(w.b("app-newest:1.2")) == img["app:1.2"].digest
        assert "1.1" in client.tag_list(w.b("app-all"))
    assert w.sync("check")["drift"] == 0


def test_shards_together_cover_every_unit_once(world: World) -> None:
    config = load_config(world.config, environ=world.env)
    with Client(settings=Settings(docker_config=False)) as client:  # the library API
        everything = sorted(_units(client.sync(config, check=True).to_dict()))
    parts = []
    for k in (1, 2, 3):
        report = world.sync("check", "--shard", f"{k}/3", expect=None)
        assert report["shard"] == f"{k}/3"
        parts.append(sorted(_units(report)))
    assert all(parts), "a shard with no work: the split is not spread"
    assert sorted(u for part in parts for u in part) == everything
    assert len(everything) >= 17


def test_a_dead_source_fails_only_its_entries(world: World, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    good = world.config.read_text()
    config = tmp_path / "dead.toml"
    config.write_text(
        good
        + f"""
[[sync]]
name = "dead-image"
source = "{dead}/gone/app:v1"
target = "{world.b("gone")}:v1"

[[sync]]
name = "dead-repo"
source = "{dead}/gone/app"
target = "{world.b("gone-all")}"
"""
    )
    proc = subprocess.run(
        [str(OCISTORE), "sync", "run", str(config)],
        capture_output=True,
        env=world.env,
        timeout=300,
        check=False,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "2 entries failed" in out
    failed = [line for line in out.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 2
    assert failed[0].startswith("failed: sync[11] (dead-image): ")
    assert failed[1].startswith("failed: sync[12] (dead-repo): ")
    assert all(dead in line for line in failed)
    rows = {line.split()[0] + line.split()[1]: line for line in out.splitlines() if "sync[" in line}
    ok_rows = [line for line in rows.values() if " ok " in line]
    assert len(ok_rows) == 11  # every other entry still ran, and is up to date


def test_repo_copy_copies_filtered_tags_then_nothing(world: World, tmp_path: Path) -> None:
    target = f"ocidir://{tmp_path}/repo"
    args = ("repo", "copy", world.a("app"), target, "--include", r"1\..*", "--format", "json")
    first = run(*args).json()
    copied = sorted(t["target"].rsplit(":", 1)[1] for t in first["entries"][0]["tags"])
    with Client() as client:
        upstream = client.tag_list(world.a("app"))
        assert copied == sorted(t for t in upstream if t.startswith("1."))
        for tag in copied:
            assert client.image_digest(f"{target}:{tag}") == client.image_digest(
                f"{world.a('app')}:{tag}"
            )
    assert first["copied"] == len(copied) >= 2
    again = run(*args).json()
    assert (again["copied"], again["skipped"]) == (0, len(copied))


def test_host_request_limit_reaches_the_transport(world: World) -> None:
    config = load_config(world.config, environ=world.env)
    with Sync(config, settings=Settings(docker_config=False)) as sync:
        assert sync.settings.host(world.dst.host).max_requests == 4  # the host's own
        assert sync.settings.host(world.src.host).max_requests == 8  # the default
        sync.run(check=True)
        reg = sync.client.scheme(world.b("app-all"))
        transport = reg._hosts.get(world.dst.host)  # type: ignore[attr-defined]
        assert transport.gate.limit == 4
        assert 1 <= transport.gate.peak <= 4


def test_serve_runs_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with Client() as client:
        _push(client, f"ocidir://{tmp_path}/src:v1", content.oci_image("serve", layers=1))
    config = tmp_path / "serve.toml"
    config.write_text(
        f'[defaults]\ninterval = "1s"\n[[sync]]\nsource = "ocidir://{tmp_path}/src:v1"\n'
        f'target = "ocidir://{tmp_path}/dst"\n'
    )
    proc = subprocess.Popen(
        [str(OCISTORE), "sync", "serve", "--format", "json", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(tmp_path),
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "dst" / "index.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "serve did not copy within 60 s"
            time.sleep(0.1)
        time.sleep(1.5)  # let a second round come around
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "SIGTERM, stopping" in err and "stopped after" in err
    reports = [json.loads(chunk) for chunk in re.split(r"(?m)^(?=\{)", out) if chunk.strip()]
    assert reports[0]["copied"] == 1
    assert all(r["skipped"] == 1 for r in reports[1:])
