"""Retries in a copy: each step that fails transiently starts again, a bounded number of times.

The policy itself (which errors, how long the pauses) is pinned in ``test_copy_retry_policy``;
here the in-memory fault schemes show what the engine does with it.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from test_copy_helpers import World, stored_blobs, world_fixture  # noqa: F401
from test_copy_retry_policy import FINAL, TRANSIENT, error_id

from ocistore import mediatype as mt
from ocistore.copy import CopyOptions, ProgressEvent
from ocistore.copy.retry import MAX_DELAY
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import (
    CopyError,
    DigestMismatchError,
    ManifestInvalidError,
    OCIStoreError,
    RateLimitError,
    RegistryError,
    ShortReadError,
    TransportError,
    UnauthorizedError,
)
from ocistore.manifest import Manifest
from ocistore.testing.content import Image, index_of, oci_image, random_bytes

FAST = CopyOptions(retry_delay=0)


def _one_layer(seed: str) -> tuple[Image, Digest]:
    image = oci_image(seed, layers=1)
    return image, image.manifest.layers[0].digest


def _big_image(world: World, text: str, size: int) -> tuple[Manifest, Digest, bytes]:
    """An image whose single layer is ``size`` bytes, stored at ``text``."""
    small = oci_image("big-" + text, layers=1)
    payload = random_bytes(size, text)
    digest = Digest.from_bytes(payload)
    data: dict[str, Any] = dict(small.manifest.data)
    data["layers"] = [Descriptor(mt.OCI_LAYER, digest, size).to_dict()]
    manifest = Manifest.from_data(data)
    ref = world.ref(text)
    scheme = world.client.scheme(ref)
    for d, blob in {**small.blobs, digest: payload}.items():
        scheme.blob_put(ref, d, io.BytesIO(blob), len(blob))
    scheme.manifest_put(ref, manifest)
    return manifest, digest, payload


def _puts(world: World, digest: Digest) -> int:
    return sum(1 for c in world.log.ops("blob_put") if c[1] == digest)


# -- blobs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", TRANSIENT[:-1], ids=error_id)
def test_a_blob_upload_failing_transiently_once_is_sent_again(
    world: World, error: Exception
) -> None:
    image, layer = _one_layer("once")
    world.put("src://on:v1", image)
    world.dst.faults.add("blob_put", error, digest=layer)
    result = world.client.image_copy("src://on:v1", "dst://on:v1", options=FAST)
    assert result.retries == 1
    assert _puts(world, layer) == 2
    assert result.blobs_copied == len(image.blobs)
    assert result.bytes_copied == sum(len(b) for b in image.blobs.values())
    assert world.client.manifest_get("dst://on:v1").raw == image.manifest.raw
    with world.client.blob_get("dst://on", layer) as reader:
        assert reader.read() == image.blobs[layer]


def test_a_connection_lost_mid_upload_restarts_the_blob_from_a_fresh_source(world: World) -> None:
    image, layer = _one_layer("mid")
    world.put("src://md:v1", image)
    world.dst.faults.add("blob_put", TransportError("reset mid-body"), digest=layer, after=100)
    result = world.client.image_copy("src://md:v1", "dst://md:v1", options=FAST)
    assert result.retries == 1
    gets = [c for c in world.src_log.ops("blob_get") if c[1] == layer]
    assert len(gets) == 2, "the second attempt must read the source again from byte 0"
    assert stored_blobs(world, "dst://md") == set(image.blobs)


def test_a_source_stream_cut_short_on_the_network_is_read_again(world: World) -> None:
    image, layer = _one_layer("cut")
    world.put("src://ct:v1", image)
    # A clean EOF at byte 50, on a reader whose bytes crossed a network.
    world.src.faults.add("blob_get", None, digest=layer, after=50, remote=True)
    result = world.client.image_copy("src://ct:v1", "dst://ct:v1", options=FAST)
    assert result.retries == 1
    assert stored_blobs(world, "dst://ct") == set(image.blobs)


@pytest.mark.parametrize("times", [1, 2])
def test_a_byte_flipped_on_the_network_is_read_again_from_byte_0(world: World, times: int) -> None:
    """Each attempt flips another byte (other wrong digests): retried while attempts last."""
    image, layer = _one_layer(f"flip{times}")
    world.put("src://fl:v1", image)
    for at in range(times):
        world.src.faults.add("blob_get", None, digest=layer, after=100 + at, flip=True, remote=True)
    events: list[ProgressEvent] = []
    result = world.client.image_copy(
        "src://fl:v1", "dst://fl:v1", options=FAST, progress=events.append
    )
    assert result.retries == times
    assert [e.kind for e in events if e.digest == layer].count("blob-retry") == times
    gets = [c for c in world.src_log.ops("blob_get") if c[1] == layer]
    assert len(gets) == times + 1
    assert stored_blobs(world, "dst://fl") == set(image.blobs)


def test_the_same_remote_mismatch_twice_is_final(world: World) -> None:
    """The same wrong bytes again: the source holds them, and a third read would not help."""
    image, layer = _one_layer("flipsame")
    world.put("src://fs:v1", image)
    world.src.faults.add("blob_get", None, digest=layer, after=7, flip=True, remote=True, times=5)
    with pytest.raises(CopyError) as info:
        world.client.image_copy("src://fs:v1", "dst://fs:v1", options=CopyOptions(attempts=5))
    assert len([c for c in world.src_log.ops("blob_get") if c[1] == layer]) == 2
    assert "the same mismatch twice" in str(info.value)
    assert isinstance(info.value.__cause__, DigestMismatchError)
    assert layer not in stored_blobs(world, "dst://fs")


@pytest.mark.parametrize("kind", ["flip", "cut"])
def test_a_mismatch_read_from_local_storage_is_final(world: World, kind: str) -> None:
    image, layer = _one_layer(f"local{kind}")
    world.put("src://lo:v1", image)
    world.src.faults.add("blob_get", None, digest=layer, after=30, flip=kind == "flip", times=3)
    with pytest.raises(CopyError) as info:
        world.client.image_copy("src://lo:v1", "dst://lo:v1", options=FAST)
    assert len([c for c in world.src_log.ops("blob_get") if c[1] == layer]) == 1
    assert isinstance(info.value.__cause__, DigestMismatchError | ShortReadError)
    assert info.value.hint is not None
    assert "damaged" in info.value.hint
    assert layer not in stored_blobs(world, "dst://lo")


def test_a_transfer_error_while_downloading_is_retried(world: World) -> None:
    image, layer = _one_layer("dl")
    world.put("src://dl:v1", image)
    world.src.faults.add("blob_get", TransportError("read timed out"), digest=layer, after=10)
    world.src.faults.add("blob_get", RegistryError("busy", status=503), digest=layer)
    result = world.client.image_copy("src://dl:v1", "dst://dl:v1", options=FAST)
    assert result.retries == 2
    assert stored_blobs(world, "dst://dl") == set(image.blobs)


def test_a_failing_existence_check_is_retried_too(world: World) -> None:
    image, layer = _one_layer("head")
    world.put("src://hd:v1", image)
    world.dst.faults.add("blob_head", TransportError("refused"), digest=layer)
    result = world.client.image_copy("src://hd:v1", "dst://hd:v1", options=FAST)
    assert result.retries == 1
    assert stored_blobs(world, "dst://hd") == set(image.blobs)


def test_a_blob_whose_answer_was_lost_is_not_sent_twice(world: World) -> None:
    image, layer = _one_layer("lost")
    world.put("src://ls:v1", image)
    world.dst.faults.add(
        "blob_put", RegistryError("gateway", status=502), digest=layer, landed=True
    )
    events: list[ProgressEvent] = []
    result = world.client.image_copy(
        "src://ls:v1", "dst://ls:v1", options=FAST, progress=events.append
    )
    assert result.retries == 1
    assert _puts(world, layer) == 1
    assert [e.kind for e in events if e.digest == layer] == [
        "blob-start",
        "blob-retry",
        "blob-skip",
    ]
    assert result.blobs_skipped == 1


@pytest.mark.parametrize("error", FINAL[:-2], ids=error_id)
def test_final_errors_fail_the_blob_at_once(world: World, error: Exception) -> None:
    image, layer = _one_layer("final")
    world.put("src://fi:v1", image)
    world.dst.faults.add("blob_put", error, digest=layer, times=5)
    with pytest.raises(CopyError) as info:
        world.client.image_copy("src://fi:v1", "dst://fi:v1", options=FAST)
    assert _puts(world, layer) == 1
    assert type(info.value.__cause__) is type(error)
    assert "attempts" not in str(info.value)


@pytest.mark.parametrize("attempts", [1, 2, 3, 5])
def test_attempts_are_bounded_and_the_error_names_ref_digest_and_count(
    world: World, attempts: int
) -> None:
    image, layer = _one_layer(f"bound{attempts}")
    world.put("src://bd:v1", image)
    world.dst.faults.add("blob_put", RegistryError("down", status=500), digest=layer, times=99)
    options = CopyOptions(attempts=attempts, retry_delay=0)
    with pytest.raises(CopyError) as info:
        world.client.image_copy("src://bd:v1", "dst://bd:v1", options=options)
    assert _puts(world, layer) == attempts
    assert info.value.digest == str(layer)
    assert info.value.ref == f"src://bd@{layer}"
    if attempts > 1:
        assert f"gave up after {attempts} attempts" in str(info.value)
    assert isinstance(info.value.__cause__, RegistryError)
    assert info.value.hint is not None
    assert "again" in info.value.hint


def test_the_pause_between_attempts_grows(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    image, layer = _one_layer("pause")
    world.put("src://ps:v1", image)
    world.dst.faults.add("blob_put", TransportError("reset"), digest=layer, times=2)
    waits: list[float] = []
    real_wait = threading.Event.wait

    def record(self: threading.Event, timeout: float | None = None) -> bool:
        if timeout is not None and timeout > 0:
            waits.append(timeout)
            timeout = 0
        return real_wait(self, timeout)

    monkeypatch.setattr(threading.Event, "wait", record)
    result = world.client.image_copy(
        "src://ps:v1", "dst://ps:v1", options=CopyOptions(retry_delay=0.2)
    )
    assert result.retries == 2
    assert len(waits) == 2
    assert 0.1 <= waits[0] <= 0.2
    assert 0.2 <= waits[1] <= 0.4


def test_a_pause_the_registry_asked_for_is_waited_out(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, layer = _one_layer("retry-after")
    world.put("src://ra:v1", image)
    limited = RateLimitError("too many requests", status=429, retry_after=2.0)
    world.dst.faults.add("blob_put", limited, digest=layer)
    world.dst.faults.add("manifest_put", RegistryError("busy", status=503, retry_after=60))
    waits: list[float] = []
    real_wait = threading.Event.wait

    def record(self: threading.Event, timeout: float | None = None) -> bool:
        if timeout is not None and timeout > 0:
            waits.append(timeout)
            timeout = 0
        return real_wait(self, timeout)

    monkeypatch.setattr(threading.Event, "wait", record)
    result = world.client.image_copy("src://ra:v1", "dst://ra:v1", options=FAST)
    assert result.retries == 2
    assert waits == [2.0, MAX_DELAY], "at least Retry-After, capped by the engine's maximum"
    assert world.client.manifest_get("dst://ra:v1").raw == image.manifest.raw


def test_a_retry_resets_the_blobs_progress(world: World) -> None:
    size = 3 * 1024 * 1024
    manifest, big, _ = _big_image(world, "src://pr:v1", size)
    world.dst.faults.add("blob_put", TransportError("reset"), digest=big, after=2 * 1024 * 1024)
    events: list[ProgressEvent] = []
    result = world.client.image_copy(
        "src://pr:v1", "dst://pr:v1", options=FAST, progress=events.append
    )
    mine = [e for e in events if e.digest == big]
    kinds = [e.kind for e in mine]
    assert kinds.count("blob-start") == 1
    assert kinds.count("blob-retry") == 1
    assert kinds[-1] == "blob-done"
    retry_at = kinds.index("blob-retry")
    before = [e.done_bytes for e in mine[:retry_at] if e.kind == "blob-progress"]
    after = [e.done_bytes for e in mine[retry_at:] if e.kind == "blob-progress"]
    assert before
    assert after
    assert after[0] < before[-1], "progress did not start again from 0"
    assert after == sorted(after)
    retry = mine[retry_at]
    assert retry.done_bytes == 0
    assert retry.detail.startswith("attempt 2 of 3: ")
    assert "reset" in retry.detail
    assert mine[-1].done_bytes == size
    assert manifest.config is not None
    assert result.bytes_copied == size + manifest.config.size, "only the last attempt counts"


# -- manifests -----------------------------------------------------------------------------------
def test_manifest_reads_and_the_first_checks_are_retried(world: World) -> None:
    image = index_of([oci_image("mr-a"), oci_image("mr-b", platform="linux/arm64")])
    world.put("src://mr:v1", image)
    child = image.children[1].digest
    world.src.faults.add("manifest_head", TransportError("refused"))  # the source's top HEAD
    world.src.faults.add("manifest_get", RegistryError("busy", status=503), digest=child)
    world.src.faults.add("manifest_get", ShortReadError("cut", remote=True), digest=child)
    result = world.client.image_copy("src://mr:v1", "dst://mr:v1", options=FAST)
    assert result.retries == 3
    assert world.client.manifest_get("dst://mr:v1").raw == image.manifest.raw


def test_a_manifest_push_failing_transiently_is_pushed_again(world: World) -> None:
    image = oci_image("mp")
    world.put("src://mp:v1", image)
    world.dst.faults.add("manifest_put", RegistryError("busy", status=503), times=2)
    result = world.client.image_copy("src://mp:v1", "dst://mp:v1", options=FAST)
    assert result.retries == 2
    assert result.manifests_pushed == 1
    assert len(world.log.ops("manifest_put")) == 3
    assert world.client.manifest_get("dst://mp:v1").raw == image.manifest.raw


def test_a_manifest_push_whose_answer_was_lost_is_not_sent_again(world: World) -> None:
    image = oci_image("ml")
    world.put("src://ml:v1", image)
    world.dst.faults.add("manifest_put", TransportError("reset"), landed=True)
    events: list[ProgressEvent] = []
    result = world.client.image_copy(
        "src://ml:v1", "dst://ml:v1", options=FAST, progress=events.append
    )
    assert result.retries == 1
    assert len(world.log.ops("manifest_put")) == 1
    assert [e.detail for e in events if e.kind == "manifest"] == ["exists"]


def test_a_manifest_push_failing_for_good_names_it_after_bounded_attempts(world: World) -> None:
    image = oci_image("mg")
    world.put("src://mg:v1", image)
    world.dst.faults.add("manifest_put", RegistryError("down", status=500), times=99)
    with pytest.raises(CopyError, match="gave up after 3 attempts") as info:
        world.client.image_copy("src://mg:v1", "dst://mg:v1", options=FAST)
    assert info.value.digest == str(image.digest)
    assert len(world.log.ops("manifest_put")) == 3


def test_referrers_and_tag_lists_are_retried(world: World) -> None:
    image = oci_image("rt")
    world.put("src://rt:v1", image)
    world.put(f"src://rt:sha256-{image.digest.encoded}.sig", oci_image("rt-sig"))
    world.src.faults.add("referrers", TransportError("reset"))
    world.src.faults.add("tag_list", RegistryError("busy", status=502))
    result = world.client.image_copy(
        "src://rt:v1",
        "dst://rt:v1",
        options=CopyOptions(referrers=True, digest_tags=True, retry_delay=0),
    )
    assert result.retries == 2
    assert f"sha256-{image.digest.encoded}.sig" in result.tags_copied


def test_a_final_manifest_error_is_not_retried(world: World) -> None:
    image = oci_image("mf")
    world.put("src://mf:v1", image)
    world.dst.faults.add("manifest_put", ManifestInvalidError("schema says no"), times=5)
    with pytest.raises(CopyError, match="schema says no"):
        world.client.image_copy("src://mf:v1", "dst://mf:v1", options=FAST)
    assert len(world.log.ops("manifest_put")) == 1


# -- cancellation --------------------------------------------------------------------------------
def test_a_sibling_failure_cuts_a_retry_pause_short_and_stops_retries(world: World) -> None:
    image, layer = _one_layer("cancel")
    config = image.manifest.config
    assert config is not None
    world.put("src://cc:v1", image)
    # The layer fails transiently at once and would wait 15-30 s before trying again; the
    # config then fails for good, which cancels the copy: the pause must end there.
    world.dst.faults.add("blob_put", TransportError("reset"), digest=layer, times=5)
    world.dst.faults.add(
        "blob_put", UnauthorizedError("token revoked"), digest=config.digest, delay=0.2
    )
    started = time.monotonic()
    with pytest.raises(CopyError, match="token revoked"):
        world.client.image_copy(
            "src://cc:v1", "dst://cc:v1", options=CopyOptions(concurrency=2, retry_delay=30)
        )
    assert time.monotonic() - started < 5
    assert _puts(world, layer) == 1


def test_attempts_and_delay_are_validated(world: World) -> None:
    world.put("src://va:v1", oci_image("va"))
    with pytest.raises(OCIStoreError, match="attempts"):
        world.client.image_copy("src://va:v1", "dst://va:v1", options=CopyOptions(attempts=0))
    with pytest.raises(OCIStoreError, match="retry_delay"):
        world.client.image_copy("src://va:v1", "dst://va:v1", options=CopyOptions(retry_delay=-1))


def test_a_copy_without_trouble_reports_no_retries(world: World) -> None:
    world.put("src://ok:v1", oci_image("ok"))
    assert world.client.image_copy("src://ok:v1", "dst://ok:v1").retries == 0
