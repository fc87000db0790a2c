"""docker-save tars: legacy ones read as built schema 2 images, ours written with exact digests,
and what docker-save cannot hold refused with an error that says what it is."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from ocifile_testlib import seed, tar_names, write_tar

from ocistore import mediatype as mt
from ocistore.client import Client
from ocistore.copy import CopyOptions
from ocistore.digest import Digest
from ocistore.errors import (
    DigestMismatchError,
    LayoutError,
    OCIStoreError,
    UnsupportedMediaTypeError,
)
from ocistore.testing import content
from ocistore_ocifile.dockertar import DockerTar
from ocistore_ocifile.plugin import parse_docker

ZSTD = b"\x28\xb5\x2f\xfd"


def _legacy(
    path: Path,
    *,
    gzip_layer: bool = False,
    zstd: bool = False,
    corrupt: bool = False,
    repo_tags: tuple[str, ...] = ("example.com/app:1.0",),
) -> dict[str, bytes]:
    """A ``docker save`` tar of the pre-25 kind: ``<id>/layer.tar``, a duplicate symlinked."""
    _, one = content.layer_tar({"a.txt": b"a"})
    _, two = content.layer_tar({"b.txt": content.random_bytes(40_000, "b")})
    stored_two = gzip.compress(two, mtime=0) if gzip_layer else two
    if zstd:
        stored_two = ZSTD + stored_two
    if corrupt:
        stored_two = stored_two[:-1] + bytes([stored_two[-1] ^ 1])
    diff_ids = ["sha256:" + hashlib.sha256(x).hexdigest() for x in (one, two, one)]
    config = json.dumps(
        {
            "os": "linux",
            "architecture": "amd64",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    write_tar(
        path,
        {
            "cfg.json": config,
            "./aaa/layer.tar": one,
            "bbb/layer.tar": stored_two,
            "manifest.json": json.dumps(
                [
                    {
                        "Config": "cfg.json",
                        "RepoTags": list(repo_tags),
                        "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"],
                    }
                ]
            ).encode(),
        },
        symlinks={"ccc/layer.tar": "../aaa/layer.tar"},
    )
    return {"config": config, "one": one, "two": stored_two}


@pytest.mark.parametrize("gzip_layer", [False, True], ids=["plain", "gzip-layer"])
def test_legacy_docker_save_reads_as_a_schema2_image(tmp_path: Path, gzip_layer: bool) -> None:
    tar = tmp_path / "save.tar"
    parts = _legacy(tar, gzip_layer=gzip_layer)
    with Client() as client:
        ref = f"dockertar://{tar}:1.0"
        manifest = client.manifest_get(ref)
        assert manifest.media_type == mt.DOCKER_MANIFEST
        assert client.manifest_get(f"dockertar://{tar}").digest == manifest.digest  # the only one
        assert manifest.config is not None
        assert manifest.config.digest == Digest.from_bytes(parts["config"])
        layers = manifest.layers
        assert [d.digest for d in layers] == [
            Digest.from_bytes(parts[k]) for k in ("one", "two", "one")
        ]
        assert layers[1].media_type == (
            mt.DOCKER_LAYER_GZIP if gzip_layer else "application/vnd.docker.image.rootfs.diff.tar"
        )
        with client.blob_get(f"dockertar://{tar}", layers[1].digest) as reader:
            assert reader.read() == parts["two"]
        assert client.tag_list(f"dockertar://{tar}") == ["1.0"]
        # the same tar always gives the same manifest
        assert DockerTar().manifest_get(parse_docker(ref)).raw == manifest.raw
        copied = client.image_copy(ref, f"ocidir://{tmp_path}/dst:1.0")
        assert copied.digest == manifest.digest
        assert copied.blobs_copied == 3  # config and two distinct layers


def test_legacy_layers_are_checked_against_diff_ids(tmp_path: Path) -> None:
    tar = tmp_path / "save.tar"
    _legacy(tar, corrupt=True)
    with Client() as client, pytest.raises(DigestMismatchError, match=r"bbb/layer\.tar"):
        client.manifest_get(f"dockertar://{tar}:1.0")


def test_legacy_zstd_layers_are_refused(tmp_path: Path) -> None:
    tar = tmp_path / "save.tar"
    _legacy(tar, zstd=True)
    with Client() as client, pytest.raises(UnsupportedMediaTypeError, match="zstd"):
        client.manifest_get(f"dockertar://{tar}:1.0")


def test_legacy_layer_count_must_match_the_config(tmp_path: Path) -> None:
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
    tar = write_tar(
        tmp_path / "save.tar",
        {
            "c.json": config,
            "l.tar": b"x",
            "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l.tar"]}]).encode(),
        },
    )
    with Client() as client, pytest.raises(LayoutError, match="diff_ids"):
        client.manifest_get(f"dockertar://{tar}")


def test_legacy_tar_with_several_images_names_them(tmp_path: Path) -> None:
    tar = tmp_path / "save.tar"
    _legacy(tar, repo_tags=("example.com/app:1.0", "example.com/app:latest"))
    with Client() as client:
        assert client.tag_list(f"dockertar://{tar}") == ["1.0", "latest"]
        with pytest.raises(OCIStoreError, match=r"example\.com/app:1\.0"):
            client.manifest_get(f"dockertar://{tar}:nope")


def test_written_docker_tar_keeps_digests_and_lists_images(tmp_path: Path) -> None:
    one, two = content.docker_image("w1"), content.docker_image("w2", layers=3)
    tar = tmp_path / "out.tar"
    with Client() as client:
        seed(client, f"ocidir://{tmp_path}/src:one", one)
        seed(client, f"ocidir://{tmp_path}/src:two", two)
        client.image_copy(f"ocidir://{tmp_path}/src:one", f"dockertar://{tar}:1.0")
    with Client() as client:  # a second image added to the tar
        client.image_copy(f"ocidir://{tmp_path}/src:two", f"dockertar://{tar}:2.0")
    with Client() as client:
        assert client.manifest_get(f"dockertar://{tar}:1.0").raw == one.manifest.raw
        assert client.manifest_get(f"dockertar://{tar}:2.0").raw == two.manifest.raw
    with tarfile.open(tar) as t:
        listed = json.loads(t.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert [e["RepoTags"] for e in listed] == [["1.0"], ["2.0"]]
    config = one.manifest.config
    assert config is not None
    assert listed[0]["Config"] == f"blobs/sha256/{config.digest.encoded}"
    assert listed[1]["Layers"] == [f"blobs/sha256/{d.digest.encoded}" for d in two.manifest.layers]
    assert tar_names(tar).count("manifest.json") == 1


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        (content.oci_image("oci"), "application/vnd.oci.image.manifest.v1+json"),
        (
            content.docker_list([content.docker_image("l1"), content.docker_image("l2")]),
            "manifest.list",
        ),
        (content.artifact(None), "application/vnd.oci.image.manifest.v1+json"),
    ],
    ids=["oci-manifest", "docker-list", "artifact"],
)
def test_what_docker_save_cannot_hold_is_refused(
    tmp_path: Path, image: content.Image, needle: str
) -> None:
    tar = tmp_path / "out.tar"
    with Client() as client:
        seed(client, f"ocidir://{tmp_path}/src:v1", image)
        with pytest.raises(OCIStoreError, match="Docker v2 schema 2 images only") as info:
            client.image_copy(f"ocidir://{tmp_path}/src:v1", f"dockertar://{tar}:v1")
        assert needle in str(info.value)
    assert not tar.exists()  # the failed copy left nothing behind
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_one_platform_of_a_list_can_be_written(tmp_path: Path) -> None:
    listing = content.docker_list(
        [content.docker_image("p1"), content.docker_image("p2", platform="linux/arm64")]
    )
    tar = tmp_path / "arm.tar"
    with Client() as client:
        seed(client, f"ocidir://{tmp_path}/src:v1", listing)
        arm = listing.children[1]
        client.image_copy(f"ocidir://{tmp_path}/src@{arm.digest}", f"dockertar://{tar}:arm")
        client.close()
        assert client.manifest_get(f"dockertar://{tar}:arm").digest == arm.digest


def test_adding_to_a_legacy_tar_is_refused(tmp_path: Path) -> None:
    tar = tmp_path / "save.tar"
    _legacy(tar)
    image = content.docker_image("add")
    with Client() as client:
        seed(client, f"ocidir://{tmp_path}/src:v1", image)
        with pytest.raises(OCIStoreError, match="legacy docker-save tar"):
            client.image_copy(
                f"ocidir://{tmp_path}/src:v1", f"dockertar://{tar}:2.0", options=CopyOptions()
            )
