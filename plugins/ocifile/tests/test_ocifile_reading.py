"""Reading OCI layout tars: which image a reference means, what a damaged tar says."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from ocifile_testlib import seed, write_tar

from ocistore import mediatype as mt
from ocistore.client import Client
from ocistore.copy import CopyOptions
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    LayoutError,
    ManifestNotFoundError,
    OCIStoreError,
)
from ocistore.testing import content

LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
REF_NAME = "org.opencontainers.image.ref.name"


def _layout(path: Path, images: dict[str | None, content.Image], **extra: bytes) -> Path:
    files: dict[str, bytes] = {"oci-layout": LAYOUT}
    entries = []
    for name, image in images.items():
        annotations = {REF_NAME: name} if name else {}
        entries.append(image.manifest.descriptor(annotations=annotations).to_dict())
        files[f"blobs/sha256/{image.digest.encoded}"] = image.manifest.raw
        for digest, data in image.blobs.items():
            files[f"blobs/sha256/{digest.encoded}"] = data
    files["index.json"] = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    ).encode()
    files.update(extra)
    return write_tar(path, files)


def test_a_reference_without_tag_means_the_only_image(tmp_path: Path) -> None:
    a, b = content.oci_image("sel-a"), content.oci_image("sel-b")
    with Client() as client:
        one = _layout(tmp_path / "one.tar", {None: a})
        assert client.manifest_get(f"ocifile://{one}").digest == a.digest
        tagged = _layout(tmp_path / "tagged.tar", {"v1": a, None: b})
        assert client.manifest_get(f"ocifile://{tagged}").digest == a.digest  # the tagged one
        latest = _layout(tmp_path / "latest.tar", {"v1": a, "latest": b})
        assert client.manifest_get(f"ocifile://{latest}").digest == b.digest
        two = _layout(tmp_path / "two.tar", {"one": a, "docker.io/library/x:two": b})
        with pytest.raises(LayoutError, match="which one") as info:
            client.manifest_get(f"ocifile://{two}")
        assert "one" in str(info.value)
        assert "docker.io/library/x:two" in str(info.value)
        assert info.value.hint is not None
        assert "--name" in info.value.hint
        # a full name answers to its tag, and tag ls lists tags
        assert client.manifest_get(f"ocifile://{two}:two").digest == b.digest
        assert client.tag_list(f"ocifile://{two}") == ["one", "two"]


def test_tag_list_pages_like_a_registry(tmp_path: Path) -> None:
    images = {f"t{i}": content.oci_image(f"page-{i}", layers=0) for i in range(5)}
    tar = _layout(tmp_path / "p.tar", dict(images))
    with Client() as client:
        assert client.tag_list(f"ocifile://{tar}", limit=2) == ["t0", "t1"]
        assert client.tag_list(f"ocifile://{tar}", last="t2") == ["t3", "t4"]


def test_other_layout_versions_are_refused(tmp_path: Path) -> None:
    image = content.oci_image("ver")
    tar = _layout(
        tmp_path / "v2.tar", {"v1": image}, **{"oci-layout": b'{"imageLayoutVersion":"2.0.0"}'}
    )
    with Client() as client, pytest.raises(LayoutError, match="imageLayoutVersion"):
        client.manifest_get(f"ocifile://{tar}:v1")


def test_a_missing_blob_is_named(tmp_path: Path) -> None:
    image = content.oci_image("missing")
    tar = _layout(tmp_path / "m.tar", {"v1": image})
    layer = image.manifest.layers[0].digest
    files_without = tmp_path / "without.tar"
    with tarfile.open(tar) as src, tarfile.open(files_without, "w") as dst:
        for member in src.getmembers():
            if not member.name.endswith(layer.encoded):
                dst.addfile(member, src.extractfile(member))
    with Client() as client:
        with pytest.raises(BlobNotFoundError, match=layer.encoded[:12]):
            client.blob_get(f"ocifile://{files_without}", layer)
        with pytest.raises(OCIStoreError, match=layer.encoded[:12]):
            client.image_copy(f"ocifile://{files_without}:v1", f"ocidir://{tmp_path}/dst:v1")
        with pytest.raises(ManifestNotFoundError, match="absent"):
            client.manifest_get(f"ocifile://{files_without}:absent")


def test_a_manifest_under_the_wrong_digest_is_refused(tmp_path: Path) -> None:
    image, other = content.oci_image("right"), content.oci_image("wrong")
    tar = _layout(
        tmp_path / "swap.tar",
        {"v1": image},
        **{f"blobs/sha256/{image.digest.encoded}": other.manifest.raw},
    )
    with Client() as client, pytest.raises(DigestMismatchError):
        client.manifest_get(f"ocifile://{tar}:v1")


def test_equal_content_gives_equal_tars(tmp_path: Path) -> None:
    image = content.index_of([content.oci_image("rep-a"), content.oci_image("rep-b")])
    with Client() as client:
        seed(client, f"ocidir://{tmp_path}/src:v1", image)
        for name in ("a.tar", "b.tar"):
            client.image_copy(
                f"ocidir://{tmp_path}/src:v1",
                f"ocifile://{tmp_path / name}:v1",
                options=CopyOptions(concurrency=1),  # blob order follows the transfer order
            )
        client.close()
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
