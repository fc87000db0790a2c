"""Round trips through a real registry (Debian docker-registry on 127.0.0.1): registry -> tar ->
registry keeps every digest, and a docker-archive written by skopeo from the registry loads."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from ocifile_testlib import SKOPEO, seed, tool

from ocistore.client import Client
from ocistore.copy import CopyOptions
from ocistore.settings import Settings
from ocistore.testing import content
from tests.support.fixtures import RunningRegistry

pytestmark = pytest.mark.registry


def _repo(reg: RunningRegistry, name: str) -> str:
    return f"{reg.host}/ocifile-{name}-{uuid.uuid4().hex[:8]}"


def _client() -> Client:
    return Client(settings=Settings(docker_config=False))


def test_registry_to_oci_tar_to_registry_keeps_digests_and_referrers(
    registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    index = content.index_of(
        [
            content.oci_image("rt-amd64", platform="linux/amd64"),
            content.oci_image("rt-arm64", platform="linux/arm64/v8"),
        ]
    )
    sbom = content.artifact(index.manifest.descriptor(), annotations={"kind": "sbom"})
    src, dst = _repo(registry_anon, "src"), _repo(registry_anon, "dst")
    tar = tmp_path / "round.tar"
    with _client() as client:
        seed(client, f"{src}:v1", index)
        parsed = client.parse(f"{src}@{sbom.digest}")
        content.push(client.scheme(parsed), parsed, sbom, child=True)
        with_referrers = CopyOptions(referrers=True)
        out = client.image_copy(f"{src}:v1", f"ocifile://{tar}:v1", options=with_referrers)
        assert out.referrers_copied == 1
    with _client() as client:
        back = client.image_copy(f"ocifile://{tar}:v1", f"{dst}:v1", options=with_referrers)
        assert back.digest == index.digest
        assert client.manifest_get(f"{dst}:v1").raw == index.manifest.raw
        for child in index.children:
            assert client.manifest_get(f"{dst}@{child.digest}").raw == child.manifest.raw
        assert [d.digest for d in client.referrers(f"{dst}:v1")] == [sbom.digest]


def test_registry_to_docker_tar_to_registry_keeps_the_digest(
    registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = content.docker_image("rt-docker")
    src, dst = _repo(registry_anon, "dsrc"), _repo(registry_anon, "ddst")
    tar = tmp_path / "save.tar"
    with _client() as client:
        seed(client, f"{src}:v1", image)
        client.image_copy(f"{src}:v1", f"dockertar://{tar}:v1")
    with _client() as client:
        assert client.image_copy(f"dockertar://{tar}:v1", f"{dst}:v1").digest == image.digest
        assert client.manifest_get(f"{dst}:v1").raw == image.manifest.raw
    # and skopeo reads the very same tar as a docker-archive
    info = tool(SKOPEO, "inspect", f"docker-archive:{tar}").stdout
    assert '"Architecture": "amd64"' in info


def test_skopeo_docker_archive_from_the_registry_goes_back_in(
    registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = content.docker_image("sk-reg")
    src, dst = _repo(registry_anon, "sksrc"), _repo(registry_anon, "skdst")
    with _client() as client:
        seed(client, f"{src}:v1", image)
    tar = tmp_path / "skopeo.tar"
    tool(
        SKOPEO,
        "copy",
        "--src-tls-verify=false",
        f"docker://{src}:v1",
        f"docker-archive:{tar}:{src}:v1",
    )
    with _client() as client:
        result = client.image_copy(f"dockertar://{tar}:v1", f"{dst}:v1")
        pushed = client.manifest_get(f"{dst}:v1")
        assert pushed.digest == result.digest
        assert pushed.config is not None
        assert image.manifest.config is not None
        assert pushed.config.digest == image.manifest.config.digest  # the config is kept as is
        assert len(pushed.layers) == len(image.manifest.layers)
