"""Image copy basics on in-memory schemes: what is copied, skipped, repaired and resumed."""

from __future__ import annotations

import io
from typing import Any

import pytest
from test_copy_helpers import World, stored_blobs, stored_manifests, world_fixture  # noqa: F401

from ocistore import mediatype as mt
from ocistore.copy import CopyOptions, ProgressEvent
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import DigestMismatchError, ManifestNotFoundError
from ocistore.manifest import Manifest
from ocistore.testing.content import (
    artifact,
    docker_image,
    docker_list,
    index_of,
    oci_image,
    random_bytes,
)

MAKERS = {
    "oci-image": lambda: oci_image("e-oci"),
    "docker-image": lambda: docker_image("e-docker"),
    "oci-index": lambda: index_of(
        [oci_image("e-a"), oci_image("e-b", platform="linux/arm64")], annotations={"x": "y"}
    ),
    "docker-list": lambda: docker_list(
        [docker_image("e-c"), docker_image("e-d", platform="linux/arm/v7")]
    ),
    "artifact": lambda: artifact(None, payload=b"just an artifact"),
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_copy_is_byte_exact_for_every_manifest_type(world: World, kind: str) -> None:
    image = MAKERS[kind]()
    world.put("src://e1:v1", image)
    result = world.client.image_copy("src://e1:v1", "dst://e1:v2")
    got = world.client.manifest_get("dst://e1:v2")
    assert got.raw == image.manifest.raw
    assert got.media_type == image.manifest.media_type
    assert (result.digest, result.source_digest, result.sparse) == (
        image.digest,
        image.digest,
        False,
    )
    assert result.media_type == image.manifest.media_type
    assert stored_blobs(world, "dst://e1") == set(image.all_blobs())
    for child in image.children:
        assert world.client.manifest_get(f"dst://e1@{child.digest}").raw == child.manifest.raw
    assert result.blobs_copied == len(image.all_blobs())
    assert result.bytes_copied == sum(len(b) for b in image.all_blobs().values())
    assert result.manifests_pushed == 1 + len(image.children)


def test_children_are_pushed_as_children_and_the_top_by_tag(world: World) -> None:
    image = index_of([oci_image("t-a"), oci_image("t-b", platform="linux/arm64")])
    world.put("src://t:v1", image)
    world.client.image_copy("src://t:v1", "dst://t:v1")
    puts = {c[1]: (c[2], c[3]) for c in world.log.ops("manifest_put")}
    assert puts[image.digest] == ("dst://t:v1", False)
    for child in image.children:
        assert puts[child.digest] == (f"dst://t@{child.digest}", True)
    assert world.client.tag_list("dst://t") == ["v1"]


def test_second_copy_is_skipped_without_reading_the_source(world: World) -> None:
    image = index_of([oci_image("s-a"), oci_image("s-b", platform="linux/arm64")])
    world.put("src://s:v1", image)
    world.client.image_copy("src://s:v1", "dst://s:v1")
    before = len(world.src_log.calls)
    again = world.client.image_copy("src://s:v1", "dst://s:v1")
    assert again.skipped
    assert (again.blobs_copied, again.manifests_pushed) == (0, 0)
    assert len(world.src_log.calls) == before  # no blob read, no referrers listing


def test_new_tag_of_existing_content_copies_no_blob(world: World) -> None:
    image = index_of([oci_image("n-a"), oci_image("n-b", platform="linux/arm64")])
    world.put("src://n:v1", image)
    world.client.image_copy("src://n:v1", "dst://n:v1")
    result = world.client.image_copy("src://n:v1", "dst://n:v2")
    assert not result.skipped
    assert (result.blobs_copied, result.manifests_pushed) == (0, 1)
    assert world.client.manifest_head("dst://n:v2").digest == image.digest


def test_shared_blobs_and_children_are_copied_once(world: World) -> None:
    child = oci_image("shared")
    image = index_of([child, child])
    world.put("src://sh:v1", image)
    result = world.client.image_copy("src://sh:v1", "dst://sh:v1")
    assert result.blobs_copied == len(child.blobs)
    assert len(world.log.ops("blob_put")) == len(child.blobs)
    assert result.manifests_pushed == 2


def test_force_recursive_repairs_a_missing_blob(world: World) -> None:
    image = index_of([oci_image("r-a"), oci_image("r-b", platform="linux/arm64")])
    world.put("src://r:v1", image)
    world.client.image_copy("src://r:v1", "dst://r:v1")
    lost = next(iter(image.children[1].blobs))
    world.client.blob_delete("dst://r", lost)
    assert world.client.image_copy("src://r:v1", "dst://r:v1").skipped
    assert lost not in stored_blobs(world, "dst://r")
    repaired = world.client.image_copy(
        "src://r:v1", "dst://r:v1", options=CopyOptions(force_recursive=True)
    )
    assert not repaired.skipped
    assert (repaired.blobs_copied, repaired.manifests_pushed) == (1, 0)
    assert repaired.blobs_skipped == len(image.all_blobs()) - 1
    assert lost in stored_blobs(world, "dst://r")


def test_force_recursive_repairs_a_missing_child_manifest(world: World) -> None:
    image = index_of([oci_image("m-a"), oci_image("m-b", platform="linux/arm64")])
    world.put("src://m:v1", image)
    world.client.image_copy("src://m:v1", "dst://m:v1")
    gone = image.children[0].digest
    scheme = world.client.scheme("dst://m")
    del scheme._repo(world.ref("dst://m")).manifests[gone]  # type: ignore[attr-defined]
    result = world.client.image_copy(
        "src://m:v1", "dst://m:v1", options=CopyOptions(force_recursive=True)
    )
    assert result.manifests_pushed == 1
    assert gone in stored_manifests(world, "dst://m")


def test_fast_skips_even_a_recursive_copy_when_the_tag_matches(world: World) -> None:
    subject = oci_image("fast")
    world.put("src://f:v1", subject)
    world.client.image_copy("src://f:v1", "dst://f:v1")
    sig = artifact(subject.manifest.descriptor(), payload=b"late signature")
    world.put(f"src://f@{sig.digest}", sig)
    fast = world.client.image_copy(
        "src://f:v1", "dst://f:v1", options=CopyOptions(referrers=True, fast=True)
    )
    assert fast.skipped
    assert world.client.referrers("dst://f:v1") == []
    full = world.client.image_copy("src://f:v1", "dst://f:v1", options=CopyOptions(referrers=True))
    assert not full.skipped
    assert [d.digest for d in world.client.referrers("dst://f:v1")] == [sig.digest]


def _external_image() -> tuple[Manifest, dict[Digest, bytes], Digest]:
    base = oci_image("ext", layers=1)
    foreign = random_bytes(3000, "foreign")
    fdigest = Digest.from_bytes(foreign)
    data = dict(base.manifest.data)
    data["layers"] = [
        *data["layers"],
        Descriptor(
            mt.OCI_NONDIST_LAYER_GZIP, fdigest, len(foreign), urls=("https://example.invalid/l",)
        ).to_dict(),
    ]
    return Manifest.from_data(data), {**base.blobs, fdigest: foreign}, fdigest


def test_external_layers_are_left_out_by_default(world: World) -> None:
    manifest, blobs, foreign = _external_image()
    src = world.ref("src://x:v1")
    scheme = world.client.scheme(src)
    for d, data in blobs.items():
        if d != foreign:  # the foreign layer lives elsewhere; the source does not have it
            scheme.blob_put(src, d, io.BytesIO(data), len(data))
    scheme.manifest_put(src, manifest)
    events: list[ProgressEvent] = []
    result = world.client.image_copy("src://x:v1", "dst://x:v1", progress=events.append)
    assert world.client.manifest_get("dst://x:v1").raw == manifest.raw
    assert foreign not in stored_blobs(world, "dst://x")
    assert result.blobs_copied == len(blobs) - 1
    assert any(e.kind == "blob-skip" and e.detail == "external" for e in events)


def test_include_external_copies_them(world: World) -> None:
    manifest, blobs, foreign = _external_image()
    src = world.ref("src://xi:v1")
    scheme = world.client.scheme(src)
    for d, data in blobs.items():
        scheme.blob_put(src, d, io.BytesIO(data), len(data))
    scheme.manifest_put(src, manifest)
    result = world.client.image_copy(
        "src://xi:v1", "dst://xi:v1", options=CopyOptions(include_external=True)
    )
    assert foreign in stored_blobs(world, "dst://xi")
    assert result.blobs_copied == len(blobs)


def test_the_target_gc_lock_is_held_for_the_whole_copy(world: World) -> None:
    world.put("src://g:v1", index_of([oci_image("g-a"), oci_image("g-b", platform="linux/arm64")]))
    world.client.image_copy("src://g:v1", "dst://g:v1")
    names = [c[0] for c in world.log.calls]
    assert names[0] == "gc_lock"
    assert names[-1] == "gc_unlock"
    assert world.log.calls[0][1] == "dst://g"
    assert names.count("gc_lock") == 1


def test_a_target_with_only_a_digest_gets_the_manifest_by_digest(world: World) -> None:
    image = oci_image("by-digest")
    world.put("src://bd:v1", image)
    result = world.client.image_copy("src://bd:v1", f"dst://bd@{image.digest}")
    assert result.digest == image.digest
    assert world.client.tag_list("dst://bd") == []
    assert world.client.manifest_get(f"dst://bd@{image.digest}").raw == image.manifest.raw
    with pytest.raises(DigestMismatchError):
        world.client.image_copy("src://bd:v1", f"dst://bd2@{Digest.from_bytes(b'other')}")


def test_a_target_without_tag_takes_the_scheme_default(world: World) -> None:
    image = oci_image("default-tag")
    world.put("src://dt:v1", image)
    world.client.image_copy("src://dt:v1", "dst://dt")
    assert world.client.tag_list("dst://dt") == ["latest"]


def test_copy_by_source_digest(world: World) -> None:
    image = oci_image("src-digest")
    world.put("src://sd:v1", image)
    result = world.client.image_copy(f"src://sd@{image.digest}", "dst://sd:copied")
    assert result.digest == image.digest
    assert world.client.manifest_head("dst://sd:copied").digest == image.digest


def test_missing_source_raises_not_found_naming_it(world: World) -> None:
    world.put("src://ms:v1", oci_image("ms"))
    with pytest.raises(ManifestNotFoundError, match="nope"):
        world.client.image_copy("src://ms:nope", "dst://ms:v1")


def test_progress_reports_each_blob_and_manifest_one_call_at_a_time(world: World) -> None:
    big = oci_image("progress", layers=1)
    payload = random_bytes(3 * 1024 * 1024, "big")
    d = Digest.from_bytes(payload)
    data: dict[str, Any] = dict(big.manifest.data)
    data["layers"] = [Descriptor(mt.OCI_LAYER, d, len(payload)).to_dict()]
    manifest = Manifest.from_data(data)
    src = world.ref("src://p:v1")
    scheme = world.client.scheme(src)
    for digest, blob in {**big.blobs, d: payload}.items():
        scheme.blob_put(src, digest, io.BytesIO(blob), len(blob))
    scheme.manifest_put(src, manifest)
    events: list[ProgressEvent] = []
    busy = [False]

    def callback(event: ProgressEvent) -> None:
        assert not busy[0], "callback entered twice at once"
        busy[0] = True
        events.append(event)
        busy[0] = False

    world.client.image_copy("src://p:v1", "dst://p:v1", progress=callback)
    kinds = [e.kind for e in events if e.digest == d]
    assert kinds[0] == "blob-start"
    assert kinds[-1] == "blob-done"
    assert "blob-progress" in kinds
    progress = [e.done_bytes for e in events if e.digest == d and e.kind == "blob-progress"]
    assert progress == sorted(progress)
    done = next(e for e in events if e.digest == d and e.kind == "blob-done")
    assert (done.done_bytes, done.size) == (len(payload), len(payload))
    assert [e.kind for e in events if e.digest == manifest.digest] == ["manifest"]
    assert next(e for e in events if e.kind == "manifest").detail == "pushed"
    events.clear()
    world.client.image_copy(
        "src://p:v1", "dst://p:v1", progress=callback, options=CopyOptions(force_recursive=True)
    )
    assert {e.kind for e in events} == {"blob-skip", "manifest"}
    assert {e.detail for e in events} == {"exists"}
