"""Bounded parallel transfers, and cross-repository mounts on one registry."""

from __future__ import annotations

from test_copy_helpers import World, make_world, stored_blobs, world_fixture  # noqa: F401

from ocistore.copy import CopyOptions, ProgressEvent
from ocistore.settings import Settings
from ocistore.testing.content import Image, index_of, oci_image


def _many(seed: str, images: int = 6, layers: int = 3) -> Image:
    return index_of([oci_image(f"{seed}-{i}", layers=layers) for i in range(images)])


def test_parallel_transfers_never_exceed_the_limit(world: World) -> None:
    image = _many("par")
    world.put("src://pa:v1", image)
    world.dst.put_delay = 0.03
    result = world.client.image_copy(
        "src://pa:v1", "dst://pa:v1", options=CopyOptions(concurrency=3)
    )
    assert result.blobs_copied == len(image.all_blobs()) == 24
    assert world.log.max_in_flight <= 3
    assert world.log.max_in_flight >= 2, "transfers did not run in parallel at all"


def test_concurrency_one_is_sequential(world: World) -> None:
    world.put("src://sq:v1", _many("seq", 3, 2))
    world.dst.put_delay = 0.01
    world.client.image_copy("src://sq:v1", "dst://sq:v1", options=CopyOptions(concurrency=1))
    assert world.log.max_in_flight == 1


def test_the_default_limit_comes_from_settings() -> None:
    w = make_world(Settings(concurrency=2))
    image = _many("set", 4, 3)
    w.put("src://st:v1", image)
    w.dst.put_delay = 0.03
    w.client.image_copy("src://st:v1", "dst://st:v1")
    assert w.log.max_in_flight == 2


def test_same_registry_copies_mount_every_blob(world: World) -> None:
    image = _many("mnt", 2, 2)
    world.put("127.0.0.1:5000/team/app:v1", image)
    world.log.calls.clear()
    events: list[ProgressEvent] = []
    result = world.client.image_copy(
        "127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/other/app:v1", progress=events.append
    )
    assert result.blobs_mounted == len(image.all_blobs())
    assert (result.blobs_copied, result.bytes_copied) == (0, 0)
    assert not world.log.ops("blob_put")
    mounts = world.log.ops("blob_mount")
    assert {m[2] for m in mounts} == {"127.0.0.1:5000/team/app"}
    assert {m[3] for m in mounts} == {"127.0.0.1:5000/other/app"}
    assert {e.detail for e in events if e.kind == "blob-skip"} == {"mounted"}
    assert world.client.manifest_get("127.0.0.1:5000/other/app:v1").raw == image.manifest.raw


def test_other_registries_are_streamed_not_mounted(world: World) -> None:
    image = _many("nomnt", 1, 2)
    world.put("127.0.0.1:5000/app:v1", image)
    world.log.calls.clear()
    result = world.client.image_copy("127.0.0.1:5000/app:v1", "127.0.0.1:5001/app:v1")
    assert result.blobs_copied == len(image.all_blobs())
    assert not world.log.ops("blob_mount")


def test_a_refused_mount_falls_back_to_a_streamed_copy(world: World) -> None:
    image = _many("refused", 1, 2)
    world.put("127.0.0.1:5000/a/app:v1", image)
    world.log.calls.clear()
    world.reg.fail_mount = True
    result = world.client.image_copy("127.0.0.1:5000/a/app:v1", "127.0.0.1:5000/b/app:v1")
    assert len(world.log.ops("blob_mount")) == len(image.all_blobs())
    assert result.blobs_copied == len(image.all_blobs())
    assert result.blobs_mounted == 0
    assert set(image.all_blobs()) <= stored_blobs(world, "127.0.0.1:5000/b/app")


def test_no_mount_when_the_target_does_not_declare_it(world: World) -> None:
    world.reg.blob_mount = False
    image = _many("undeclared", 1, 1)
    world.put("127.0.0.1:5000/c/app:v1", image)
    world.log.calls.clear()
    result = world.client.image_copy("127.0.0.1:5000/c/app:v1", "127.0.0.1:5000/d/app:v1")
    assert not world.log.ops("blob_mount")
    assert result.blobs_copied == len(image.all_blobs())


def test_copy_within_one_repository_sends_no_blob(world: World) -> None:
    image = _many("same", 1, 2)
    world.put("127.0.0.1:5000/e/app:v1", image)
    world.log.calls.clear()
    result = world.client.image_copy("127.0.0.1:5000/e/app:v1", "127.0.0.1:5000/e/app:v2")
    assert not world.log.ops("blob_put")
    assert not world.log.ops("blob_mount")
    assert result.manifests_pushed == 1
    assert world.client.tag_list("127.0.0.1:5000/e/app") == ["v1", "v2"]


def test_memory_to_registry_scheme_copies_between_schemes(world: World) -> None:
    image = _many("cross", 2, 1)
    world.put("src://cross:v1", image)
    world.client.image_copy("src://cross:v1", "127.0.0.1:5000/cross:v1")
    world.client.image_copy("127.0.0.1:5000/cross:v1", "dst://cross:v1")
    assert world.client.manifest_get("dst://cross:v1").raw == image.manifest.raw
    assert set(image.all_blobs()) == stored_blobs(world, "dst://cross")
