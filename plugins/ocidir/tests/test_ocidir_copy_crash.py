"""Crash safety of a whole copy: SIGKILL ``image copy`` into a layout that already holds other tags.

The copy is killed at 50 points spread evenly over its measured duration, for two routes: layout
to layout and registry (the real docker-registry) to layout. After every kill:

* the tags the layout held before are all there, with their digests;
* ocistore reads every tag of the layout and verifies every blob they name;
* every digest-named file under ``blobs/`` hashes to its name (``verify_layout``);
* on a sample of the points (every fifth), real ``skopeo`` and ``umoci`` read the layout too;
* running the same copy again completes with the source's digest, and leaves no temp file
  (the rerun's write and close collect what the killed copy left).

The copies run in children forked from one server process (``ocidir_worker.py copier``), so a
kill costs milliseconds, not an interpreter's start-up; each point starts from a fresh copy of
the same seeded layout.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocidir_testlib import WORKER, verify_layout

from ocistore import mediatype as mt
from ocistore.digest import Digest
from ocistore.manifest import Manifest
from ocistore.settings import Settings
from ocistore.testing.content import Image, layer_tar, push, random_bytes
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir
from tests.support.registry import RunningRegistry

pytestmark = [pytest.mark.registry, pytest.mark.interop]

POINTS = 50
SAMPLE_EVERY = 5  # skopeo and umoci judge every fifth point
SKOPEO = Path("/usr/bin/skopeo")
UMOCI = Path("/usr/bin/umoci")


Layer = tuple[bytes, bytes]  # (gzip, tar) as layer_tar returns them


def layers_of(seed: str, sizes: list[int]) -> list[Layer]:
    """Incompressible gzip tar layers of about ``sizes`` bytes."""
    return [
        layer_tar({f"data/{seed}-{i}.bin": random_bytes(size, f"{seed}/{i}")})
        for i, size in enumerate(sizes)
    ]


def unpackable_image(seed: str, layers: list[Layer]) -> Image:
    """An image umoci can unpack: a config whose diff_ids and history match ``layers``."""
    config: dict[str, Any] = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [f"SEED={seed}"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": [str(Digest.from_bytes(raw)) for _, raw in layers],
        },
        "history": [{"created": "2024-01-01T00:00:00Z"}] * len(layers),
    }
    config_raw = json.dumps(config).encode()
    blobs = {Digest.from_bytes(gz): gz for gz, _ in layers}
    blobs[Digest.from_bytes(config_raw)] = config_raw
    manifest = Manifest.from_data(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "digest": str(Digest.from_bytes(config_raw)),
                "size": len(config_raw),
            },
            "layers": [
                {
                    "mediaType": mt.OCI_LAYER_GZIP,
                    "digest": str(Digest.from_bytes(gz)),
                    "size": len(gz),
                }
                for gz, _ in layers
            ],
        }
    )
    return Image(manifest, blobs)


class Copier:
    """The fork server: ``start`` forks a copy and returns its pid, ``wait`` its exit code."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), "copier", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _line(self, prefix: str) -> int:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line and line[0] == prefix, f"copier said {line!r}"
        return int(line[1])

    def start(self, src: str, dst: str) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{src} {dst}\n")
        self.proc.stdin.flush()
        return self._line("pid")

    def wait(self) -> int:
        return self._line("exit")

    def run(self, src: str, dst: str) -> float:
        """Copy to the end; returns the seconds it took."""
        t0 = time.monotonic()
        self.start(src, dst)
        assert self.wait() == 0, f"copy {src} -> {dst} failed"
        return time.monotonic() - t0

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def copier() -> Iterator[Copier]:
    c = Copier()
    yield c
    c.close()


def tool(binary: Path, *args: str | Path) -> str:
    if not binary.exists():
        pytest.fail(f"{binary} not found (apt-get install {binary.name})", pytrace=False)
    done = subprocess.run(
        [str(binary), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{binary.name} {args} failed: {done.stderr}"
    return done.stdout


def judge_with_tools(path: Path, tags: dict[str, Digest], work: Path) -> None:
    """skopeo returns each tag's manifest digest; umoci lists the tags and unpacks one."""
    for tag, digest in tags.items():
        raw = tool(SKOPEO, "--insecure-policy", "inspect", "--raw", f"oci:{path}:{tag}")
        assert Digest.from_bytes(raw.encode()) == digest, f"skopeo read another {tag}"
    assert set(tool(UMOCI, "ls", "--layout", path).split()) == set(tags)
    last = sorted(tags)[-1]
    bundle = work / f"bundle-{uuid.uuid4().hex[:8]}"
    tool(UMOCI, "unpack", "--rootless", "--image", f"{path}:{last}", bundle)
    assert (bundle / "rootfs/data").is_dir()
    shutil.rmtree(bundle)


def tags_with_digests(path: Path) -> dict[str, Digest]:
    scheme = OCIDir(Settings())
    ref = parse(f"ocidir://{path}")
    return {t: scheme.manifest_head(ref.with_tag(t)).digest for t in scheme.tag_list(ref)}


def read_everything(path: Path) -> None:
    """ocistore reads every tag and verifies every blob it names."""
    scheme = OCIDir(Settings())
    ref = parse(f"ocidir://{path}")
    for tag in scheme.tag_list(ref):
        manifest = scheme.manifest_get(ref.with_tag(tag))
        for child in manifest.children():
            with scheme.blob_get(ref, child.digest, size=child.size) as r:
                r.verify_to_end()


def temp_files(path: Path) -> list[Path]:
    return [p for p in path.rglob(".*.tmp")]


def crash_run(
    copier: Copier, route: str, src: str, tmp: Path, source: Image, shared: Layer
) -> dict[str, int]:
    """Seed a layout, measure the copy, then kill it at POINTS moments and judge each."""
    template = tmp / "template"
    scheme = OCIDir(Settings())
    before: dict[str, Digest] = {}
    # keep-a shares a layer with the image being copied: the killed copy's leftovers and the
    # rerun's garbage collection must never take it away
    for tag, image in {
        "keep-a": unpackable_image("keep-a", [shared, *layers_of("keep-a", [20_000])]),
        "keep-b": unpackable_image("keep-b", layers_of("keep-b", [30_000])),
        "keep-c": unpackable_image("keep-c", layers_of("keep-c", [10_000, 10_000])),
    }.items():
        push(scheme, parse(f"ocidir://{template}:{tag}"), image)
        before[tag] = image.digest
    scheme.close(parse(f"ocidir://{template}"))
    verify_layout(template)

    durations = []
    for i in range(3):
        target = tmp / f"calibrate{i}"
        shutil.copytree(template, target)
        durations.append(copier.run(src, f"ocidir://{target}:new"))
    duration = sorted(durations)[1]
    outcomes = {"killed": 0, "finished": 0, "with-temp-files": 0, "tool-checked": 0}
    for point in range(POINTS):
        target = tmp / f"point{point}"
        shutil.copytree(template, target)
        delay = duration * (point + 0.5) / POINTS
        pid = copier.start(src, f"ocidir://{target}:new")
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):  # a finished child stays until reaped
            os.kill(pid, signal.SIGKILL)
        code = copier.wait()
        assert code in (0, -signal.SIGKILL), f"point {point}: the copy exited with {code}"
        outcomes["killed" if code else "finished"] += 1
        outcomes["with-temp-files"] += bool(temp_files(target))
        now = tags_with_digests(target)
        assert {t: now.get(t) for t in before} == before, f"point {point}: a tag was damaged"
        assert set(now) - set(before) <= {"new"}
        if "new" in now:
            assert now["new"] == source.digest
        read_everything(target)
        assert verify_layout(target) == sorted(now)
        if point % SAMPLE_EVERY == 0:
            judge_with_tools(target, now, tmp)
            outcomes["tool-checked"] += 1
        # the same copy again completes, and cleans what the killed one left
        copier.run(src, f"ocidir://{target}:new")
        assert tags_with_digests(target) == {**before, "new": source.digest}
        assert not temp_files(target), f"point {point}: temp files survived the rerun"
        read_everything(target)
        verify_layout(target)
        shutil.rmtree(target)
    print(
        f"\ncrash {route}: copy takes {duration * 1000:.0f} ms; "
        f"{POINTS} kills from {duration * 500 / POINTS:.1f} ms to "
        f"{duration * 1000 * (POINTS - 0.5) / POINTS:.0f} ms: {outcomes}; "
        f"every point: {len(before)} old tags intact, layout verified, rerun correct"
    )
    return outcomes


SIZES = [400_000, 800_000, 1_600_000]


def test_sigkill_layout_to_layout_copy_at_50_points(copier: Copier, tmp_path: Path) -> None:
    layers = layers_of("source", SIZES)
    source = unpackable_image("source", layers)
    src_path = tmp_path / "source"
    push(OCIDir(Settings()), parse(f"ocidir://{src_path}:v1"), source)
    outcomes = crash_run(
        copier, "ocidir->ocidir", f"ocidir://{src_path}:v1", tmp_path, source, layers[0]
    )
    assert outcomes["killed"] >= POINTS // 2


def test_sigkill_registry_to_layout_copy_at_50_points(
    copier: Copier, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    from ocistore_reg.plugin import parse as parse_reg
    from ocistore_reg.scheme import Reg

    layers = layers_of("source", SIZES)
    source = unpackable_image("source", layers)
    src = f"{registry_anon.host}/crash/{uuid.uuid4().hex[:10]}:v1"
    push(Reg(Settings(docker_config=False)), parse_reg(src), source)
    outcomes = crash_run(copier, "reg->ocidir", src, tmp_path, source, layers[0])
    assert outcomes["killed"] >= POINTS // 2
