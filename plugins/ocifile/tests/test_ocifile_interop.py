"""Interop with real tools: tars made by skopeo and umoci are read, ours are read by them.

Sources are seeded into OCI layout directories (the real ocidir plugin); skopeo and umoci come
from Debian packages, and a missing tool fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocifile_testlib import SKOPEO, UMOCI, blobs_of, seed, tool

from ocistore import mediatype as mt
from ocistore.client import Client
from ocistore.copy import CopyOptions
from ocistore.testing import content

pytestmark = pytest.mark.interop


@pytest.fixture
def client() -> Client:
    return Client()


def _multi(seed_: str) -> content.Image:
    return content.index_of(
        [
            content.oci_image(f"{seed_}-amd64", platform="linux/amd64"),
            content.oci_image(f"{seed_}-arm64", platform="linux/arm64/v8"),
        ]
    )


# -- tars made by the tools, read by us -----------------------------------------------------------
def test_skopeo_oci_archive_of_an_index_is_read_exactly(client: Client, tmp_path: Path) -> None:
    index = _multi("sk")
    seed(client, f"ocidir://{tmp_path}/src:multi", index)
    client.close()
    tar = tmp_path / "skopeo.tar"
    tool(SKOPEO, "copy", "--all", f"oci:{tmp_path}/src:multi", f"oci-archive:{tar}:multi")
    ref = f"ocifile://{tar}:multi"
    assert client.manifest_get(ref).raw == index.manifest.raw
    assert client.tag_list(f"ocifile://{tar}") == ["multi"]
    for child in index.children:
        got = client.manifest_get(f"ocifile://{tar}@{child.digest}")
        assert got.raw == child.manifest.raw
    assert blobs_of(client, f"ocifile://{tar}", index) == index.all_blobs()
    result = client.image_copy(ref, f"ocidir://{tmp_path}/back:multi")
    assert result.digest == index.digest


def test_skopeo_docker_archive_is_read_as_schema2(client: Client, tmp_path: Path) -> None:
    image = content.oci_image("skd")  # skopeo's oci: transport reads OCI manifests only
    seed(client, f"ocidir://{tmp_path}/src:v1", image)
    client.close()
    tar = tmp_path / "docker.tar"
    tool(SKOPEO, "copy", f"oci:{tmp_path}/src:v1", f"docker-archive:{tar}:example.com/app:1.0")
    manifest = client.manifest_get(f"dockertar://{tar}:1.0")
    assert manifest.media_type == mt.DOCKER_MANIFEST
    assert manifest.config is not None
    with client.blob_get(f"dockertar://{tar}", manifest.config.digest) as reader:
        assert json.loads(reader.read())["config"]["Env"] == ["SEED=skd"]
    assert client.tag_list(f"dockertar://{tar}") == ["1.0"]
    assert len(manifest.layers) == len(image.manifest.layers)
    out = f"ocidir://{tmp_path}/loaded:1.0"
    assert client.image_copy(f"dockertar://{tar}:1.0", out).digest == manifest.digest
    for layer in manifest.layers:  # every layer arrived, verified against its digest
        with client.blob_get(out, layer.digest, size=layer.size) as reader:
            reader.verify_to_end()


def test_umoci_layout_tarred_by_tar_is_read(client: Client, tmp_path: Path) -> None:
    layout = tmp_path / "umoci"
    tool(UMOCI, "init", "--layout", layout)
    tool(UMOCI, "new", "--image", f"{layout}:fresh")
    tool(UMOCI, "config", "--image", f"{layout}:fresh", "--config.cmd", "/bin/true")
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    tar = tmp_path / "umoci.tar"
    tool(Path("/usr/bin/tar"), "-C", layout, "-cf", tar, ".")  # members are ./index.json ...
    manifest = client.manifest_get(f"ocifile://{tar}:fresh")
    assert str(manifest.digest) == digest
    config = manifest.config
    assert config is not None
    with client.blob_get(f"ocifile://{tar}", config.digest, size=config.size) as reader:
        assert json.loads(reader.read())["config"]["Cmd"] == ["/bin/true"]


# -- tars written by us, read by the tools ----------------------------------------------------------
def test_written_oci_tar_is_accepted_by_skopeo_and_umoci(client: Client, tmp_path: Path) -> None:
    index, single = _multi("ours"), content.oci_image("ours-single")
    seed(client, f"ocidir://{tmp_path}/src:multi", index)
    seed(client, f"ocidir://{tmp_path}/src:single", single)
    tar = tmp_path / "ours.tar"
    client.image_copy(f"ocidir://{tmp_path}/src:multi", f"ocifile://{tar}:multi")
    client.close()
    # a second copy adds to the tar and keeps what was there
    client.image_copy(f"ocidir://{tmp_path}/src:single", f"ocifile://{tar}:single")
    client.close()
    raw = tool(SKOPEO, "inspect", "--raw", f"oci-archive:{tar}:multi").stdout
    assert raw.encode() == index.manifest.raw
    info = json.loads(tool(SKOPEO, "inspect", f"oci-archive:{tar}:single").stdout)
    assert info["Digest"] == str(single.digest)
    tool(SKOPEO, "copy", "--all", f"oci-archive:{tar}:multi", f"oci:{tmp_path}/skopeo-out:m")
    out_index = json.loads((tmp_path / "skopeo-out/index.json").read_text())
    assert out_index["manifests"][0]["digest"] == str(index.digest)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    tool(Path("/usr/bin/tar"), "-C", unpacked, "-xf", tar)
    listed = tool(UMOCI, "ls", "--layout", unpacked).stdout.split()
    assert sorted(listed) == ["multi", "single"]
    bundle = tmp_path / "bundle"
    tool(UMOCI, "unpack", "--rootless", "--image", f"{unpacked}:single", bundle)
    assert (bundle / "rootfs" / "file-ours-single-0.txt").read_bytes() == content.random_bytes(
        1024, "ours-single/0"
    )


def test_written_docker_tar_is_read_by_skopeo(client: Client, tmp_path: Path) -> None:
    image = content.docker_image("dock")
    seed(client, f"ocidir://{tmp_path}/src:v1", image)
    tar = tmp_path / "save.tar"
    client.image_copy(f"ocidir://{tmp_path}/src:v1", f"dockertar://{tar}:1.0")
    client.close()
    info = json.loads(tool(SKOPEO, "inspect", f"docker-archive:{tar}").stdout)
    assert info["Architecture"] == "amd64"
    assert len(info["Layers"]) == 2
    config = json.loads(tool(SKOPEO, "inspect", "--config", f"docker-archive:{tar}").stdout)
    assert config["config"]["Env"] == ["SEED=dock"]
    tool(SKOPEO, "copy", f"docker-archive:{tar}", f"oci:{tmp_path}/skopeo-out:x")
    # and read back by us with the digest it had at the source
    assert client.manifest_get(f"dockertar://{tar}:1.0").raw == image.manifest.raw


# -- artifacts with referrers ---------------------------------------------------------------------
def test_referrers_travel_into_and_out_of_a_tar(client: Client, tmp_path: Path) -> None:
    subject = content.oci_image("subject")
    sbom = content.artifact(subject.manifest.descriptor(), annotations={"kind": "sbom"})
    sig = content.artifact(
        subject.manifest.descriptor(),
        artifact_type="application/vnd.example.signature",
        payload=b"signed",
    )
    src = f"ocidir://{tmp_path}/src"
    seed(client, f"{src}:v1", subject)
    for art in (sbom, sig):
        parsed = client.parse(f"{src}@{art.digest}")
        content.push(client.scheme(parsed), parsed, art, child=True)
    tar = tmp_path / "with-referrers.tar"
    result = client.image_copy(
        f"{src}:v1", f"ocifile://{tar}:v1", options=CopyOptions(referrers=True)
    )
    assert result.referrers_copied == 2
    client.close()
    found = {d.digest for d in client.referrers(f"ocifile://{tar}", digest=subject.digest)}
    assert found == {sbom.digest, sig.digest}
    only = client.referrers(
        f"ocifile://{tar}",
        digest=subject.digest,
        artifact_type="application/vnd.example.signature",
    )
    assert [d.digest for d in only] == [sig.digest]
    # skopeo still reads the tagged image (referrers are untagged entries beside it)
    info = json.loads(tool(SKOPEO, "inspect", f"oci-archive:{tar}:v1").stdout)
    assert info["Digest"] == str(subject.digest)
    back = f"ocidir://{tmp_path}/back"
    client.image_copy(f"ocifile://{tar}:v1", f"{back}:v1", options=CopyOptions(referrers=True))
    assert {d.digest for d in client.referrers(back, digest=subject.digest)} == found
