"""Hostile tars: every trick ends in a clear error naming the member, and nothing is written
anywhere but the target (nothing is ever extracted, so there is no path to escape through)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from ocifile_testlib import write_tar

from ocistore import mediatype as mt
from ocistore.client import Client
from ocistore.errors import LayoutError, OCIStoreError, SizeLimitExceededError
from ocistore.testing import content

LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def _layout_files(image: content.Image, prefix: str = "") -> dict[str, bytes]:
    files = {
        f"{prefix}oci-layout": LAYOUT,
        f"{prefix}index.json": json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_INDEX,
                "manifests": [
                    image.manifest.descriptor(
                        annotations={"org.opencontainers.image.ref.name": "v1"}
                    ).to_dict()
                ],
            }
        ).encode(),
        f"{prefix}blobs/sha256/{image.digest.encoded}": image.manifest.raw,
    }
    for digest, data in image.blobs.items():
        files[f"{prefix}blobs/sha256/{digest.encoded}"] = data
    return files


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"../escape.txt": b"x"}, "'..'"),
        ({"blobs/../../up": b"x"}, "'..'"),
        ({"/etc/absolute": b"x"}, "absolute"),
    ],
    ids=["dotdot", "dotdot-inside", "absolute"],
)
def test_escaping_member_names_are_refused(
    tmp_path: Path, extra: dict[str, bytes], needle: str
) -> None:
    image = content.oci_image("names")
    tar = write_tar(tmp_path / "evil.tar", {**_layout_files(image), **extra})
    with Client() as client, pytest.raises(LayoutError, match=needle) as info:
        client.manifest_get(f"ocifile://{tar}:v1")
    assert "evil.tar" in str(info.value)


def test_links_leaving_the_archive_are_refused(tmp_path: Path) -> None:
    image = content.oci_image("links")
    files = _layout_files(image)
    for symlinks, needle in (
        ({"blobs/sha256/evil": "../../../etc/passwd"}, "outside"),
        ({"blobs/sha256/evil": "/etc/passwd"}, "absolute"),
        ({"a": "b", "b": "a"}, "too many levels"),
    ):
        tar = write_tar(tmp_path / "links.tar", files, symlinks=symlinks)
        with Client() as client, pytest.raises(LayoutError, match=needle):
            client.tag_list(f"ocifile://{tar}")


def test_links_inside_the_archive_are_followed(tmp_path: Path) -> None:
    """docker save links duplicate layers; a relative or hard link inside the tar is fine."""
    image = content.oci_image("inside")
    files = _layout_files(image)
    layer = image.manifest.layers[0].digest.encoded
    data = files.pop(f"blobs/sha256/{layer}")
    files["store/real"] = data
    tar = write_tar(
        tmp_path / "ok.tar",
        files,
        symlinks={f"blobs/sha256/{layer}": "../../store/real"},
    )
    with (
        Client() as client,
        client.blob_get(f"ocifile://{tar}", image.manifest.layers[0].digest) as r,
    ):
        assert r.read() == data
    hard = write_tar(
        tmp_path / "hard.tar", files, hardlinks={f"blobs/sha256/{layer}": "store/real"}
    )
    with (
        Client() as client,
        client.blob_get(f"ocifile://{hard}", image.manifest.layers[0].digest) as r,
    ):
        assert r.read() == data


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    image = content.oci_image("dup")
    tar = tmp_path / "dup.tar"
    files = _layout_files(image)
    write_tar(tar, files)
    # append a second index.json (tar -r style): which one wins would be a matter of taste
    with tarfile.open(tar, "a") as t:
        info = tarfile.TarInfo("./index.json")
        info.size = 2
        t.addfile(info, io.BytesIO(b"{}"))
    with Client() as client, pytest.raises(LayoutError, match="appears twice"):
        client.manifest_get(f"ocifile://{tar}:v1")


def test_member_larger_than_its_descriptor_is_refused(tmp_path: Path) -> None:
    image = content.oci_image("big")
    files = _layout_files(image)
    layer = image.manifest.layers[0]
    files[f"blobs/sha256/{layer.digest.encoded}"] += b"trailing bytes"
    tar = write_tar(tmp_path / "big.tar", files)
    with Client() as client:
        with pytest.raises(SizeLimitExceededError, match=str(layer.size)):
            client.blob_get(f"ocifile://{tar}", layer.digest, size=layer.size)
        with pytest.raises(OCIStoreError, match=layer.digest.encoded[:12]):
            client.image_copy(f"ocifile://{tar}:v1", f"ocidir://{tmp_path}/dst:v1")


def test_devices_and_fifos_are_refused(tmp_path: Path) -> None:
    tar = tmp_path / "dev.tar"
    with tarfile.open(tar, "w") as t:
        info = tarfile.TarInfo("blobs/sha256/fifo")
        info.type = tarfile.FIFOTYPE
        t.addfile(info)
    with Client() as client, pytest.raises(LayoutError, match="not a regular file"):
        client.ping(f"ocifile://{tar}")


def test_import_of_a_hostile_tar_writes_nothing_outside_the_target(tmp_path: Path) -> None:
    """The whole path a user takes: a failed copy, the target untouched, no stray files."""
    image = content.oci_image("stray")
    work = tmp_path / "work"
    work.mkdir()
    tar = write_tar(
        work / "evil.tar",
        {**_layout_files(image, prefix="./"), "../../outside.txt": b"owned"},
    )
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with Client() as client, pytest.raises(LayoutError):
        client.image_copy(f"ocifile://{tar}:v1", f"ocidir://{work}/dst:v1")
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert not (tmp_path / "outside.txt").exists()
    assert not (tmp_path.parent / "outside.txt").exists()
    assert [p for p in after if p not in before and not str(p).startswith("work/dst")] == []
