"""The installed CLI against the real registry (``docker-registry`` on 127.0.0.1)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from ocistore import mediatype as mt
from ocistore.testing import content
from tests.support.registry import RunningRegistry
from tests.test_cli import assert_one_line_error, run, seed
from tests.test_cli_archive import docker_save_tar, skopeo

pytestmark = pytest.mark.registry


def _repo(reg: RunningRegistry, name: str = "cli") -> str:
    return f"{reg.host}/{name}-{uuid.uuid4().hex[:8]}"


def test_copy_ocidir_to_registry_and_back(tmp_path: Path, registry_anon: RunningRegistry) -> None:
    index = content.index_of(
        [content.oci_image(80), content.oci_image(81, platform="linux/arm64/v8")]
    )
    src = seed(tmp_path / "src", "v1", index)
    repo = _repo(registry_anon)
    data = run("image", "copy", src, f"{repo}:v1", "--format", "json").json()
    assert data["digest"] == str(index.digest)
    assert run("image", "digest", f"{repo}:v1").out.strip() == str(index.digest)
    assert run("manifest", "get", f"{repo}:v1").stdout == index.manifest.raw
    head = run("manifest", "head", f"{repo}:v1", "--format", "json").json()
    assert head["mediaType"] == mt.OCI_INDEX
    back = f"ocidir://{tmp_path}/back:v1"
    run("image", "copy", f"{repo}:v1", back)
    assert run("image", "digest", back).out.strip() == str(index.digest)


def test_tags_repos_and_blobs(registry_anon: RunningRegistry, tmp_path: Path) -> None:
    image = content.oci_image(82)
    src = seed(tmp_path / "src", "v1", image)
    repo = _repo(registry_anon, "tags")
    for tag in ("1.0", "1.1", "2.0"):
        run("image", "copy", src, f"{repo}:{tag}")
    assert run("tag", "ls", repo).out.split() == ["1.0", "1.1", "2.0"]
    assert run("tag", "ls", repo, "--include", r"1\..*").out.split() == ["1.0", "1.1"]
    repos = run("repo", "ls", registry_anon.host, "--format", "json").json()["repositories"]
    assert repo.split("/", 1)[1] in repos
    layer = image.manifest.layers[0]
    head = run("blob", "head", repo, str(layer.digest), "--format", "json").json()
    assert head["size"] == layer.size
    got = run("blob", "get", repo, str(layer.digest)).stdout
    assert got == image.blobs[layer.digest]


def test_missing_tag_on_a_registry(registry_anon: RunningRegistry, tmp_path: Path) -> None:
    src = seed(tmp_path / "src", "v1", content.oci_image(83))
    repo = _repo(registry_anon, "missing")
    run("image", "copy", src, f"{repo}:v1")
    res = run("manifest", "get", f"{repo}:nosuchtag", expect=1)
    assert_one_line_error(res, "nosuchtag")


def test_artifacts_and_referrers_on_a_registry(
    registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = content.oci_image(84)
    src = seed(tmp_path / "src", "v1", image)
    repo = _repo(registry_anon, "art")
    run("image", "copy", src, f"{repo}:v1")
    (tmp_path / "note.txt").write_text("a note\n")
    digest = run(
        "artifact",
        "put",
        repo,
        tmp_path / "note.txt",
        "--subject",
        f"{repo}:v1",
        "--artifact-type",
        "application/vnd.example.note",
    ).out.strip()
    listed = run("artifact", "list", f"{repo}:v1", "--format", "json").json()
    assert [r["digest"] for r in listed["referrers"]] == [digest]
    out = tmp_path / "out"
    run("artifact", "get", f"{repo}@{digest}", "-o", out)
    assert (out / "note.txt").read_text() == "a note\n"
    # referrers follow an image copy to a layout
    back = f"ocidir://{tmp_path}/back:v1"
    run("image", "copy", "--referrers", f"{repo}:v1", back)
    listed = run("artifact", "list", back, "--format", "json").json()
    assert [r["digest"] for r in listed["referrers"]] == [digest]


def test_export_from_a_registry_is_readable_by_skopeo(
    registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = content.docker_image(85)
    src = seed(tmp_path / "src", "v1", image)
    repo = _repo(registry_anon, "export")
    run("image", "copy", src, f"{repo}:v1")
    tar = tmp_path / "reg.tar"
    run("image", "export", f"{repo}:v1", tar)
    proc = skopeo("inspect", f"oci-archive:{tar}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Digest"] == str(image.digest)
    # and back in under another tag
    run("image", "import", f"{repo}:again", tar)
    assert run("image", "digest", f"{repo}:again").out.strip() == str(image.digest)


def test_user_and_password_stdin_reach_the_registry(
    registry_basic: RunningRegistry, tmp_path: Path
) -> None:
    assert registry_basic.username
    assert registry_basic.password
    src = seed(tmp_path / "src", "v1", content.oci_image(86))
    repo = _repo(registry_basic, "auth")
    res = run("image", "copy", src, f"{repo}:v1", expect=1)
    assert_one_line_error(res)
    assert "--user USER --password-stdin" in res.stderr
    run(
        "--user",
        registry_basic.username,
        "--password-stdin",
        "image",
        "copy",
        src,
        f"{repo}:v1",
        input=(registry_basic.password + "\n").encode(),
    )
    res = run(
        "tag",
        "ls",
        repo,
        "--user",
        registry_basic.username,
        "--password-stdin",
        input=registry_basic.password.encode(),
    )
    assert res.out.split() == ["v1"]


def test_tls_registry_with_ca_file_and_insecure(
    registry_tls: RunningRegistry, tmp_path: Path
) -> None:
    assert registry_tls.ca_file is not None
    src = seed(tmp_path / "src", "v1", content.oci_image(87))
    repo = _repo(registry_tls, "tls")
    run(
        "--ca-file",
        f"{registry_tls.host}={registry_tls.ca_file}",
        "image",
        "copy",
        src,
        f"{repo}:v1",
    )
    assert run("tag", "ls", repo, "--insecure", registry_tls.host).out.split() == ["v1"]
    res = run("tag", "ls", repo, expect=1)  # loopback defaults to plain HTTP: a TLS server says no
    assert_one_line_error(res)


def test_mtls_registry_with_client_cert(registry_mtls: RunningRegistry, tmp_path: Path) -> None:
    tls = registry_mtls.client_tls
    assert tls is not None
    assert registry_mtls.ca_file is not None
    src = seed(tmp_path / "src", "v1", content.oci_image(88))
    repo = _repo(registry_mtls, "mtls")
    ca = ("--ca-file", f"{registry_mtls.host}={registry_mtls.ca_file}")
    cert = ("--client-cert", f"{registry_mtls.host}={tls.cert_file},{tls.key_file}")
    run(*ca, *cert, "image", "copy", src, f"{repo}:v1")
    combined = ("--client-cert", f"{registry_mtls.host}={tls.combined_file}")
    assert run(*ca, *combined, "tag", "ls", repo).out.split() == ["v1"]
    refused = run(*ca, "tag", "ls", repo, expect=1)
    assert_one_line_error(refused)
    assert "client certificate" in refused.stderr


def test_docker_save_import_into_a_registry(registry_anon: RunningRegistry, tmp_path: Path) -> None:
    tar = tmp_path / "save.tar"
    docker_save_tar(tar, gzip_second=True)
    repo = _repo(registry_anon, "dockersave")
    data = run("image", "import", f"{repo}:1.0", tar, "--format", "json").json()
    assert data["format"] == "docker"
    head = run("manifest", "head", f"{repo}:1.0", "--format", "json").json()
    assert head["digest"] == data["digest"]
    assert head["mediaType"] == mt.DOCKER_MANIFEST
    proc = skopeo("inspect", "--tls-verify=false", f"docker://{repo}:1.0")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Digest"] == data["digest"]
