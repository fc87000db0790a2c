"""Manifests: exact bytes, the default tag, children, deletion, and errors that name things."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from ocidir_testlib import index_json, names

from ocistore import mediatype as mt
from ocistore.digest import Digest
from ocistore.errors import (
    DigestMismatchError,
    ManifestNotFoundError,
    MissingDigestError,
    SizeLimitExceededError,
    TagNotFoundError,
    UnsupportedMediaTypeError,
)
from ocistore.manifest import Manifest
from ocistore.ref import Ref
from ocistore.testing.content import Image, docker_image, docker_list, index_of, oci_image, push
from ocistore_ocidir.scheme import OCIDir

MT = "org.opencontainers.image.ref.name"


def test_no_tag_means_latest_for_get_head_and_put(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("latest")
    push(scheme, layout, image)
    assert names(layout) == ["latest"]
    assert scheme.manifest_get(layout).digest == image.digest
    assert scheme.manifest_head(layout).digest == image.digest
    assert scheme.manifest_get(layout.with_tag("latest")).raw == image.manifest.raw


def test_put_by_digest_adds_an_untagged_root(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("untagged")
    push(scheme, layout.with_digest(image.digest), image)
    assert names(layout) == [None]
    assert index_json(layout)["manifests"][0]["digest"] == str(image.digest)
    with pytest.raises(TagNotFoundError):
        scheme.manifest_get(layout)  # no "latest" was invented


def test_put_with_tag_and_digest_tags_it(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("both")
    push(scheme, layout.with_tag("v1").with_digest(image.digest, keep_tag=True), image)
    assert names(layout) == ["v1"]


def test_child_put_adds_no_entry_even_with_a_tag(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("child")
    push(scheme, layout.with_tag("ignored"), image, child=True)
    assert index_json(layout)["manifests"] == []
    assert scheme.manifest_get(layout.with_digest(image.digest)).raw == image.manifest.raw
    head = scheme.manifest_head(layout.with_digest(image.digest))
    assert (head.media_type, head.size) == (mt.OCI_MANIFEST, image.manifest.size)


@pytest.mark.parametrize(
    "make",
    [
        lambda: docker_image("d"),
        lambda: docker_list([docker_image("d1"), docker_image("d2", platform="linux/arm64")]),
        lambda: index_of([oci_image("i1")]),
    ],
    ids=["docker-manifest", "docker-list", "oci-index"],
)
def test_every_manifest_type_is_stored_byte_exact_with_its_media_type(
    scheme: OCIDir, layout: Ref, make: Callable[[], Image]
) -> None:
    image = make()
    push(scheme, layout.with_tag("t"), image)
    entry = index_json(layout)["manifests"][0]
    assert entry == {
        "mediaType": image.manifest.media_type,
        "digest": str(image.digest),
        "size": image.manifest.size,
        "annotations": {MT: "t"},
    }
    blob = Path(layout.path) / "blobs/sha256" / image.digest.encoded
    assert blob.read_bytes() == image.manifest.raw


def test_unusual_formatting_is_kept(scheme: OCIDir, layout: Ref) -> None:
    base = oci_image("pretty")
    pretty = json.dumps(json.loads(base.manifest.raw), indent=3).encode() + b"\n"
    manifest = Manifest.from_bytes(pretty)
    for d, data in base.blobs.items():
        scheme.blob_put(layout, d, io.BytesIO(data), len(data))
    scheme.manifest_put(layout.with_tag("p"), manifest)
    got = scheme.manifest_get(layout.with_tag("p"))
    assert got.raw == pretty
    assert got.digest == Digest.from_bytes(pretty)


def test_schema1_is_refused_and_nothing_written(scheme: OCIDir, layout: Ref) -> None:
    push(scheme, layout.with_tag("x"), oci_image("x"))
    before = index_json(layout)
    body = {
        "schemaVersion": 1,
        "name": "a/b",
        "tag": "t",
        "architecture": "amd64",
        "fsLayers": [],
        "history": [],
        "signatures": [],
    }
    with pytest.raises(UnsupportedMediaTypeError, match="schema1"):
        scheme.manifest_put(layout.with_tag("old"), Manifest.from_bytes(json.dumps(body).encode()))
    assert index_json(layout) == before


def test_put_by_digest_with_sha512(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("512")
    d512 = Digest.from_bytes(image.manifest.raw, "sha512")
    push(scheme, layout.with_digest(d512), image)
    assert scheme.manifest_get(layout.with_digest(d512)).raw == image.manifest.raw
    assert index_json(layout)["manifests"][0]["digest"] == str(d512)


def test_put_digest_mismatch_writes_nothing(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("mismatch")
    push(scheme, layout.with_tag("a"), oci_image("other"))
    before = index_json(layout)
    with pytest.raises(DigestMismatchError):
        scheme.manifest_put(layout.with_digest(Digest.from_bytes(b"x")), image.manifest)
    assert index_json(layout) == before
    assert not (Path(layout.path) / "blobs/sha256" / image.digest.encoded).exists()


def test_missing_tag_error_names_tag_and_layout(scheme: OCIDir, layout: Ref) -> None:
    push(scheme, layout.with_tag("here"), oci_image("here"))
    with pytest.raises(TagNotFoundError) as info:
        scheme.manifest_head(layout.with_tag("gone"))
    assert "'gone'" in str(info.value)
    assert layout.path in str(info.value)


def test_tag_pointing_at_a_missing_blob_names_tag_digest_and_file(
    scheme: OCIDir, layout: Ref
) -> None:
    """The sparse-layout complaint of regclient#1105: say what is missing, not just "not found"."""
    image = oci_image("sparse")
    push(scheme, layout.with_tag("v1"), image)
    (Path(layout.path) / "blobs/sha256" / image.digest.encoded).unlink()
    for call in (scheme.manifest_get, scheme.manifest_head):
        with pytest.raises(ManifestNotFoundError) as info:
            call(layout.with_tag("v1"))
        text = str(info.value)
        assert "'v1'" in text
        assert str(image.digest) in text
        assert layout.path in text
        assert f"blobs/sha256/{image.digest.encoded}" in text


def test_missing_digest_error_names_digest_and_layout(scheme: OCIDir, layout: Ref) -> None:
    push(scheme, layout.with_tag("x"), oci_image("x"))
    missing = Digest.from_bytes(b"missing")
    with pytest.raises(ManifestNotFoundError) as info:
        scheme.manifest_get(layout.with_digest(missing))
    assert str(missing) in str(info.value)
    assert layout.path in str(info.value)


def test_corrupt_manifest_blob_is_detected(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("corrupt")
    push(scheme, layout.with_tag("v1"), image)
    path = Path(layout.path) / "blobs/sha256" / image.digest.encoded
    path.write_bytes(image.manifest.raw.replace(b"layers", b"LAYERS"))
    with pytest.raises(DigestMismatchError, match="corrupt"):
        scheme.manifest_get(layout.with_tag("v1"))


def test_entry_without_media_type_is_sniffed_for_head(scheme: OCIDir, layout: Ref) -> None:
    """umoci writes manifests without a mediaType field; some index entries lack it too."""
    image = oci_image("sniff")
    push(scheme, layout.with_tag("v1"), image)
    path = Path(layout.path) / "index.json"
    doc = json.loads(path.read_bytes())
    del doc["manifests"][0]["mediaType"]
    path.write_text(json.dumps(doc))
    head = scheme.manifest_head(layout.with_tag("v1"))
    assert (head.media_type, head.digest) == (mt.OCI_MANIFEST, image.digest)


def test_delete_removes_every_entry_of_the_digest_and_the_blob(scheme: OCIDir, layout: Ref) -> None:
    image, other = oci_image("many"), oci_image("other")
    push(scheme, layout.with_tag("a"), image)
    push(scheme, layout.with_tag("b"), other)
    push(scheme, layout.with_tag("c"), image)
    push(scheme, layout.with_digest(image.digest), image)
    push(scheme, layout.with_tag("d"), image)
    scheme.manifest_delete(layout.with_tag("a").with_digest(image.digest, keep_tag=True))
    assert names(layout) == ["b"]
    assert not (Path(layout.path) / "blobs/sha256" / image.digest.encoded).exists()
    with pytest.raises(ManifestNotFoundError):
        scheme.manifest_delete(layout.with_digest(image.digest))


def test_delete_of_a_child_removes_its_blob(scheme: OCIDir, layout: Ref) -> None:
    parent = index_of([oci_image("c1"), oci_image("c2", platform="linux/arm64")])
    push(scheme, layout.with_tag("p"), parent)
    child = parent.children[0].digest
    scheme.manifest_delete(layout.with_digest(child))
    with pytest.raises(ManifestNotFoundError):
        scheme.manifest_get(layout.with_digest(child))
    assert scheme.manifest_get(layout.with_tag("p")).digest == parent.digest


def test_delete_needs_a_digest(scheme: OCIDir, layout: Ref) -> None:
    push(scheme, layout.with_tag("v1"), oci_image("d"))
    with pytest.raises(MissingDigestError, match="needs a digest"):
        scheme.manifest_delete(layout.with_tag("v1"))
    assert names(layout) == ["v1"]


def test_foreign_entries_survive_our_writes(scheme: OCIDir, layout: Ref) -> None:
    push(scheme, layout.with_tag("mine"), oci_image("mine"))
    path = Path(layout.path) / "index.json"
    doc = json.loads(path.read_bytes())
    foreign = {
        "mediaType": "application/x-foreign",
        "digest": "blake3:" + "1" * 64,
        "size": 3,
        "platform": {"os": "linux", "architecture": "s390x"},
        "x-field": True,
    }
    doc["manifests"].insert(0, foreign)
    doc["annotations"] = {"org.example": "index-level"}
    path.write_text(json.dumps(doc))
    push(scheme, layout.with_tag("more"), oci_image("more"))
    after = index_json(layout)
    assert after["manifests"][0] == foreign
    assert after["annotations"] == {"org.example": "index-level"}
    assert names(layout) == [None, "mine", "more"]


def test_size_disagreeing_with_index_json_is_an_error(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("size")
    push(scheme, layout.with_tag("v1"), image)
    path = Path(layout.path) / "index.json"
    doc = json.loads(path.read_bytes())
    doc["manifests"][0]["size"] = 3
    path.write_text(json.dumps(doc))
    with pytest.raises(SizeLimitExceededError, match=r"index\.json says 3"):
        scheme.manifest_get(layout.with_tag("v1"))


def test_a_blob_deleted_between_write_and_index_update_is_restored(
    scheme: OCIDir, layout: Ref, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process may delete the manifest right after our blob write; the index update
    (under the lock) must not then point at nothing."""
    from ocistore_ocidir.blobs import BlobStore

    image = oci_image("race")
    for d, data in image.blobs.items():
        scheme.blob_put(layout, d, io.BytesIO(data), len(data))
    real = BlobStore.put_bytes
    calls: list[Digest] = []

    def racing(self: BlobStore, data: bytes, digest: Digest) -> None:
        real(self, data, digest)
        calls.append(digest)
        if len(calls) == 1:
            self.layout.blob_path(digest).unlink()  # the concurrent delete

    monkeypatch.setattr(BlobStore, "put_bytes", racing)
    scheme.manifest_put(layout.with_tag("v1"), image.manifest)
    assert calls == [image.digest, image.digest]
    assert scheme.manifest_get(layout.with_tag("v1")).raw == image.manifest.raw
