"""Failures: one child's error cancels its siblings, names what failed, and a rerun resumes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from test_copy_helpers import InjectedError, World, stored_blobs, world_fixture  # noqa: F401

from ocistore import mediatype as mt
from ocistore.copy import CopyOptions
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import CopyError, LoopDetectedError, NotFoundError
from ocistore.manifest import Manifest
from ocistore.testing.content import Image, artifact, index_of, oci_image


def _wide(seed: str, n: int = 8) -> Image:
    return index_of([oci_image(f"{seed}-{i}", layers=2) for i in range(n)])


def test_a_failed_blob_names_reference_and_digest_and_chains_the_cause(world: World) -> None:
    image = _wide("fail", 3)
    world.put("src://fl:v1", image)
    bad = next(iter(image.children[1].blobs))
    world.dst.fail_blob_put = {bad}
    with pytest.raises(CopyError) as info:
        world.client.image_copy("src://fl:v1", "dst://fl:v1")
    message = str(info.value)
    assert f"src://fl@{bad}" in message
    assert "src://fl:v1" in message
    assert "dst://fl:v1" in message
    assert isinstance(info.value.__cause__, InjectedError)
    assert info.value.hint
    assert "again" in info.value.hint
    # Nothing that depends on the failed blob was pushed.
    pushed = {c[1] for c in world.log.ops("manifest_put")}
    assert image.children[1].digest not in pushed
    assert image.digest not in pushed


def test_a_failure_stops_new_work_and_aborts_running_transfers(world: World) -> None:
    image = _wide("cancel", 10)
    world.put("src://cn:v1", image)
    blobs = image.all_blobs()
    world.dst.fail_put_call = 1
    # Every other put crawls: 128-byte reads with a pause, so a put is still running when the
    # failure lands and must stop at its next read.
    world.dst.read_size = 128
    world.dst.read_delay = 0.05
    started = time.monotonic()
    with pytest.raises(CopyError, match="injected blob_put failure") as info:
        world.client.image_copy("src://cn:v1", "dst://cn:v1", options=CopyOptions(concurrency=2))
    failed = world.log.ops("blob_put")[0][1]
    assert f"src://cn@{failed}" in str(info.value)
    elapsed = time.monotonic() - started
    attempted = len(world.log.ops("blob_put"))
    stored = len(world.log.ops("blob_stored"))
    assert attempted <= 2, "siblings kept starting after the failure"
    assert len(blobs) == 30
    assert stored == 0, "a running transfer ran to completion after the failure"
    assert elapsed < 5
    assert not stored_blobs(world, "dst://cn")


def test_a_rerun_resumes_by_skipping_what_landed(world: World) -> None:
    image = _wide("resume", 4)
    world.put("src://rr:v1", image)
    bad = next(iter(image.children[3].blobs))
    world.dst.fail_blob_put = {bad}
    with pytest.raises(CopyError):
        world.client.image_copy("src://rr:v1", "dst://rr:v1", options=CopyOptions(concurrency=1))
    landed = stored_blobs(world, "dst://rr")
    assert landed, "some blobs should have landed before the failure"
    pushed_before = {c[1] for c in world.log.ops("manifest_put")}
    world.dst.fail_blob_put = set()
    world.log.calls.clear()
    result = world.client.image_copy("src://rr:v1", "dst://rr:v1")
    assert result.blobs_copied == len(image.all_blobs()) - len(landed)
    assert not any(c[1] in landed for c in world.log.ops("blob_put"))
    assert result.manifests_pushed == 1 + len(image.children) - len(pushed_before)
    assert world.client.manifest_get("dst://rr:v1").digest == image.digest


def test_a_failed_manifest_push_is_reported_too(world: World) -> None:
    image = _wide("mfail", 2)
    world.put("src://mf:v1", image)
    world.dst.fail_manifest_put = {image.children[0].digest}
    with pytest.raises(CopyError, match=f"manifest src://mf@{image.children[0].digest}"):
        world.client.image_copy("src://mf:v1", "dst://mf:v1")


def test_a_failed_source_read_is_reported_with_its_digest(world: World) -> None:
    image = _wide("rfail", 2)
    world.put("src://sf:v1", image)
    bad = next(iter(image.children[0].blobs))
    world.src.fail_blob_get = {bad}
    with pytest.raises(CopyError, match=str(bad)) as info:
        world.client.image_copy("src://sf:v1", "dst://sf:v1")
    assert isinstance(info.value.__cause__, InjectedError)


def test_an_index_containing_itself_is_a_loop(world: World) -> None:
    leaf = oci_image("loop-leaf")
    fake = Digest.from_bytes(b"stands for the inner index")
    outer_data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            leaf.manifest.descriptor().to_dict(),
            Descriptor(mt.OCI_INDEX, fake, 100).to_dict(),
        ],
    }
    outer = Manifest.from_data(outer_data)
    inner = Manifest.from_data(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [outer.descriptor().to_dict()]}
    )
    # A lying store: it serves the inner index under a digest that is not its own.
    world.src.fake_manifests = {fake: Manifest(inner.raw, mt.OCI_INDEX, fake)}
    world.put("src://lp:v1", Image(outer, {}, [leaf]))
    for push_first in (False, True):
        world.dst.push_first = push_first
        with pytest.raises(LoopDetectedError, match=str(outer.digest)):
            world.client.image_copy("src://lp:v1", f"dst://lp{push_first}:v1")
        assert not world.log.ops("manifest_put")


def test_referrers_in_a_ring_are_a_loop(world: World) -> None:
    subject = oci_image("ring")
    sig = artifact(subject.manifest.descriptor(), payload=b"ring sig")
    world.put("src://rg:v1", subject)
    world.put(f"src://rg@{sig.digest}", sig)
    world.src.fake_referrers = {sig.digest: [subject.manifest.descriptor()]}
    with pytest.raises(LoopDetectedError):
        world.client.image_copy("src://rg:v1", "dst://rg:v1", options=CopyOptions(referrers=True))


def test_the_callback_failing_aborts_the_copy(world: World) -> None:
    world.put("src://cb:v1", _wide("cb", 2))

    def explode(event: Any) -> None:
        raise RuntimeError("renderer crashed")

    with pytest.raises(CopyError, match="renderer crashed"):
        world.client.image_copy("src://cb:v1", "dst://cb:v1", progress=explode)


def test_no_thread_is_left_running_after_a_failure(world: World) -> None:
    image = _wide("threads", 4)
    world.put("src://th:v1", image)
    world.dst.fail_blob_put = {next(iter(image.children[0].blobs))}
    world.dst.read_delay = 0.005
    world.dst.read_size = 512
    before = threading.active_count()
    with pytest.raises(CopyError):
        world.client.image_copy("src://th:v1", "dst://th:v1", options=CopyOptions(concurrency=4))
    assert threading.active_count() == before
    assert not [t for t in threading.enumerate() if t.name.startswith("ocistore-copy")]


def test_an_unreadable_top_manifest_is_an_error_not_a_blob(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Index entries of unknown type are tried as manifests, then copied as blobs; the top of a
    copy is named as a manifest, so failing to read it must fail the copy."""
    image = oci_image("odd-top")
    world.put("src://ot:v1", image)
    scheme = world.client.scheme("src://ot")
    odd = Manifest(image.manifest.raw, "application/vnd.example.odd", image.digest)
    monkeypatch.setattr(scheme, "manifest_head", lambda ref: odd.descriptor())

    def vanished(ref: Any) -> Manifest:
        raise NotFoundError(f"manifest {ref.digest} vanished")

    monkeypatch.setattr(scheme, "manifest_get", vanished)
    with pytest.raises(CopyError, match="vanished"):
        world.client.image_copy("src://ot:v1", "dst://ot:v1")
