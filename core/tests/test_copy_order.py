"""Push order: children before parents, parents first on push-first targets, referrers last."""

from __future__ import annotations

from typing import Any

from test_copy_helpers import World, world_fixture  # noqa: F401

from ocistore.copy import CopyOptions
from ocistore.digest import Digest
from ocistore.testing.content import Image, artifact, index_of, oci_image


def _positions(world: World) -> dict[tuple[str, Digest], int]:
    """Index in the target's call log of each blob store and manifest put (first occurrence)."""
    out: dict[tuple[str, Digest], int] = {}
    for i, call in enumerate(world.log.calls):
        if call[0] in ("blob_stored", "manifest_put"):
            out.setdefault((call[0], call[1]), i)
    return out


def _nested() -> tuple[Image, Image, list[Image]]:
    leaves = [
        oci_image("o-a"),
        oci_image("o-b", platform="linux/arm64"),
        oci_image("o-c", platform="linux/s390x"),
    ]
    inner = index_of(leaves[1:])
    outer = index_of([leaves[0]])
    # An index whose second entry is another index (no platform on that entry).
    data: dict[str, Any] = dict(outer.manifest.data)
    data["manifests"] = [*data["manifests"], inner.manifest.descriptor().to_dict()]
    from ocistore.manifest import Manifest

    top = Image(Manifest.from_data(data), {}, [leaves[0], inner])
    return top, inner, leaves


def test_children_first_on_ordinary_targets(world: World) -> None:
    top, inner, leaves = _nested()
    world.put("src://o:v1", top)
    world.client.image_copy("src://o:v1", "dst://o:v1", options=CopyOptions(concurrency=3))
    pos = _positions(world)
    for leaf in leaves:
        for blob in leaf.blobs:
            assert pos["blob_stored", blob] < pos["manifest_put", leaf.digest]
    for leaf in leaves[1:]:
        assert pos["manifest_put", leaf.digest] < pos["manifest_put", inner.digest]
    assert pos["manifest_put", inner.digest] < pos["manifest_put", top.digest]
    assert pos["manifest_put", leaves[0].digest] < pos["manifest_put", top.digest]
    assert world.log.ops("manifest_put")[-1][1] == top.digest


def test_parents_first_on_push_first_targets(world: World) -> None:
    world.dst.push_first = True
    top, inner, leaves = _nested()
    world.put("src://pf:v1", top)
    result = world.client.image_copy(
        "src://pf:v1", "dst://pf:v1", options=CopyOptions(concurrency=3)
    )
    assert result.manifests_pushed == 5
    pos = _positions(world)
    assert world.log.ops("manifest_put")[0][1] == top.digest
    assert pos["manifest_put", top.digest] < pos["manifest_put", inner.digest]
    for leaf in leaves[1:]:
        assert pos["manifest_put", inner.digest] < pos["manifest_put", leaf.digest]
    for leaf in leaves:
        for blob in leaf.blobs:
            assert pos["manifest_put", leaf.digest] < pos["blob_stored", blob]


def test_push_first_targets_always_recurse(world: World) -> None:
    """A present parent says nothing about its children on a push-first target, so a second
    copy checks every child and repairs what is missing."""
    world.dst.push_first = True
    image = index_of([oci_image("pr-a"), oci_image("pr-b", platform="linux/arm64")])
    world.put("src://pr:v1", image)
    world.client.image_copy("src://pr:v1", "dst://pr:v1")
    lost = next(iter(image.children[0].blobs))
    world.client.blob_delete("dst://pr", lost)
    again = world.client.image_copy("src://pr:v1", "dst://pr:v1")
    assert not again.skipped
    assert (again.blobs_copied, again.manifests_pushed) == (1, 0)
    assert world.client.image_copy(
        "src://pr:v1", "dst://pr:v1", options=CopyOptions(fast=True)
    ).skipped


def test_referrers_are_pushed_after_their_subject(world: World) -> None:
    for push_first in (False, True):
        world.dst.push_first = push_first
        world.log.calls.clear()
        subject = index_of([oci_image(f"rs-a{push_first}")])
        sig = artifact(subject.manifest.descriptor(), payload=f"sig{push_first}".encode())
        world.put(f"src://rs{push_first}:v1", subject)
        world.put(f"src://rs{push_first}@{sig.digest}", sig)
        world.client.image_copy(
            f"src://rs{push_first}:v1",
            f"dst://rs{push_first}:v1",
            options=CopyOptions(referrers=True),
        )
        pos = _positions(world)
        assert pos["manifest_put", subject.digest] < pos["manifest_put", sig.digest]
        puts = {c[1]: (c[2], c[3]) for c in world.log.ops("manifest_put")}
        # A referrer is stored by digest but not as a child: the target must list it.
        assert puts[sig.digest] == (f"dst://rs{push_first}@{sig.digest}", False)


def test_index_entries_that_are_blobs_are_copied_before_the_index(world: World) -> None:
    """An entry of unknown type is read as a manifest first; when that fails it is a blob,
    copied like a layer, and the index still waits for it."""
    import io

    from ocistore.descriptor import Descriptor
    from ocistore.manifest import Manifest

    payload = b"an index entry that is not a manifest"
    digest = Digest.from_bytes(payload)
    img = oci_image("blob-entry")
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            img.manifest.descriptor().to_dict(),
            Descriptor("application/vnd.example.data", digest, len(payload)).to_dict(),
        ],
    }
    index = Manifest.from_data(data)
    src = world.ref("src://be:v1")
    world.client.scheme(src).blob_put(src, digest, io.BytesIO(payload), len(payload))
    world.put("src://be:v1", Image(index, {}, [img]))
    world.dst.slow_digests = {digest: 0.2}
    result = world.client.image_copy("src://be:v1", "dst://be:v1")
    assert result.blobs_copied == len(img.blobs) + 1
    pos = _positions(world)
    assert pos["blob_stored", digest] < pos["manifest_put", index.digest]
    assert world.client.manifest_get("dst://be:v1").raw == index.raw
