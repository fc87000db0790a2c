"""Copies against a flaky real registry: transient faults are survived, permanent ones reported.

A small HTTP/1.1 relay (:class:`tests.support.faultproxy.FaultProxy`, 127.0.0.1 only) sits in
front of the session's real docker-registry and follows a script of faults: answer 503 instead of
forwarding, reset the connection half-way through a request body, cut a response body short, hide
``Range`` so a cut download's resume gets the whole blob back. Another test kills a
registry process mid-copy and starts a second one on the same storage.

The ``reg`` plugin's own retries are shortened (two attempts per request, millisecond pauses),
so that the engine's per-step retries are what is tested, each test stays well under a minute,
and faults that outlast the plugin's patience are cheap to script.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocistore import mediatype as mt
from ocistore.client import Client
from ocistore.copy import CopyOptions, CopyResult, ProgressEvent
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import CopyError, TransportError
from ocistore.manifest import Manifest
from ocistore.settings import Settings
from ocistore.testing.content import Image, oci_image, push, random_bytes
from tests.support.faultproxy import Action, FaultProxy
from tests.support.registry import RunningRegistry, _base_config, _free_port, _launch

pytestmark = [pytest.mark.registry, pytest.mark.timeout(120)]

REG_OPTIONS = {
    "retries": 2,
    "retry_delay": 0.01,
    "retry_max_delay": 0.05,
    "retry_total": 5,
    "connect_timeout": 5,
    "read_timeout": 20,
}
FAST = CopyOptions(retry_delay=0.01)
BIG = 3 * 1024 * 1024  # big enough that a reset lands while the body is still being sent


# -- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture
def proxy(registry_anon: RunningRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry_anon.host) as relay:
        yield relay


@pytest.fixture
def client() -> Iterator[Client]:
    settings = Settings(docker_config=False, options={"reg": dict(REG_OPTIONS)})
    with Client(settings=settings) as c:
        yield c


def big_image(seed: str, layers: int = 2) -> Image:
    """An OCI image whose layers are :data:`BIG` random bytes each."""
    base = oci_image(seed, layers=1)
    blobs = {d: b for d, b in base.blobs.items() if d != base.manifest.layers[0].digest}
    entries = []
    for i in range(layers):
        payload = random_bytes(BIG, f"{seed}-{i}")
        digest = Digest.from_bytes(payload)
        blobs[digest] = payload
        entries.append(Descriptor(mt.OCI_LAYER, digest, BIG).to_dict())
    data: dict[str, Any] = dict(base.manifest.data)
    data["layers"] = entries
    return Image(Manifest.from_data(data), blobs)


def unique(name: str) -> str:
    return f"faults-{uuid.uuid4().hex[:8]}/{name}"


def seed_source(client: Client, tmp: Path, image: Image, registry: str | None = None) -> str:
    """Put ``image`` straight into the ``registry`` host (not via the relay), or a layout."""
    ref = f"{registry}/{unique('src')}:v1" if registry else f"ocidir://{tmp / 'src'}:v1"
    parsed = client.parse(ref)
    push(client.scheme(parsed), parsed, image)
    client.close(parsed)
    return ref


def check_copy(client: Client, result: CopyResult, target: str, image: Image) -> None:
    """Same digest and bytes as the source, and every blob reads back and verifies."""
    assert result.digest == image.digest
    assert client.manifest_get(target).raw == image.manifest.raw
    repo = client.parse(target).bare()
    for digest, payload in image.blobs.items():
        with client.blob_get(repo, digest, size=len(payload)) as reader:
            reader.verify_to_end()


def last_layer(image: Image) -> Digest:
    return image.manifest.layers[-1].digest


# -- transient faults are survived ---------------------------------------------------------------
@pytest.mark.parametrize("source_kind", ["ocidir", "reg"])
@pytest.mark.parametrize("action", ["status", "reset"])
def test_a_failed_blob_upload_is_sent_again(
    client: Client,
    proxy: FaultProxy,
    registry_anon: RunningRegistry,
    tmp_path: Path,
    source_kind: str,
    action: Action,
) -> None:
    """A 503 to the upload's PUT, or a reset half-way through its body: the plugin cannot
    resend a streamed body, so the engine starts that blob again from a fresh source read."""
    image = big_image(f"put-{action}-{source_kind}")
    host = registry_anon.host if source_kind == "reg" else None
    source = seed_source(client, tmp_path, image, host)
    layer = last_layer(image)
    rule = proxy.rule("PUT", rf"/blobs/uploads/.*{layer.encoded}", action)
    target = f"{proxy.host}/{unique('dst')}:v1"
    events: list[ProgressEvent] = []
    result = client.image_copy(source, target, options=FAST, progress=events.append)
    assert rule.hits == 1
    assert result.retries == 1
    assert [e.kind for e in events if e.digest == layer].count("blob-retry") == 1
    assert result.blobs_copied == len(image.blobs)
    check_copy(client, result, target, image)
    check_copy(client, result, target.replace(proxy.host, registry_anon.host), image)


def test_a_cut_download_is_resumed_in_place_by_the_plugin(
    client: Client, proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = big_image("cut-range")
    source = seed_source(client, tmp_path, image, registry_anon.host)
    layer = last_layer(image)
    rule = proxy.rule("GET", rf"/blobs/sha256:{layer.encoded}", "cut")
    target = f"ocidir://{tmp_path / 'out'}:v1"
    result = client.image_copy(source.replace(registry_anon.host, proxy.host), target, options=FAST)
    assert rule.hits == 1
    assert result.retries == 0, "a Range resume needs no restart of the blob"
    check_copy(client, result, target, image)


def test_a_cut_download_whose_resume_ignores_range_skips_what_was_read(
    client: Client, proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    """The relay hides ``Range``, so the plugin's resume gets the whole blob again (200): the
    plugin drops the bytes it already delivered and carries on, with no restart of the blob."""
    image = big_image("cut-norange")
    source = seed_source(client, tmp_path, image, registry_anon.host)
    layer = last_layer(image)
    cut = proxy.rule("GET", rf"/blobs/sha256:{layer.encoded}", "cut")
    norange = proxy.rule("GET", rf"/blobs/sha256:{layer.encoded}", "norange", times=-1)
    target = f"ocidir://{tmp_path / 'out'}:v1"
    result = client.image_copy(source.replace(registry_anon.host, proxy.host), target, options=FAST)
    assert cut.hits == 1
    assert norange.hits == 1
    assert result.retries == 0
    check_copy(client, result, target, image)


def test_a_cut_download_that_cannot_resume_is_read_again(
    client: Client, proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    """The resume is cut too, which uses up the plugin's two attempts: it gives up with a short
    read, and the engine restarts the blob from a fresh GET."""
    image = big_image("cut-twice")
    source = seed_source(client, tmp_path, image, registry_anon.host)
    layer = last_layer(image)
    cut = proxy.rule("GET", rf"/blobs/sha256:{layer.encoded}", "cut", times=2)
    target = f"ocidir://{tmp_path / 'out'}:v1"
    result = client.image_copy(source.replace(registry_anon.host, proxy.host), target, options=FAST)
    assert cut.hits == 2
    assert result.retries == 1
    check_copy(client, result, target, image)


def test_manifest_push_failures_that_outlast_the_plugins_retries_are_retried(
    client: Client, proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = oci_image("manifest-503", layers=2)
    source = seed_source(client, tmp_path, image)
    rule = proxy.rule("PUT", r"/manifests/", "status", status=503, times=REG_OPTIONS["retries"])
    target = f"{proxy.host}/{unique('dst')}:v1"
    result = client.image_copy(source, target, options=FAST)
    assert rule.hits == REG_OPTIONS["retries"]
    assert result.retries == 1
    assert result.manifests_pushed == 1
    check_copy(client, result, target, image)


# -- permanent faults are reported, and a rerun resumes --------------------------------------------
def test_a_permanent_failure_names_ref_and_digest_and_a_rerun_resumes(
    client: Client, proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = big_image("permanent", layers=3)
    source = seed_source(client, tmp_path, image)
    layer = last_layer(image)
    rule = proxy.rule("PUT", rf"/blobs/uploads/.*{layer.encoded}", "status", status=500, times=-1)
    target = f"{proxy.host}/{unique('dst')}:v1"
    options = CopyOptions(concurrency=1, retry_delay=0.01)
    with pytest.raises(CopyError) as info:
        client.image_copy(source, target, options=options)
    error = info.value
    assert error.digest == str(layer)
    assert error.ref is not None
    assert error.ref.endswith(f"@{layer}")
    assert f"{layer}" in str(error)
    assert "gave up after 3 attempts" in str(error)
    assert "500" in str(error)
    assert rule.hits == 3, "one PUT per attempt: bounded, and never resent by the plugin"
    assert error.hint is not None
    assert "again" in error.hint
    rule.times = 0  # the registry recovers
    result = client.image_copy(source, target, options=options)
    assert result.blobs_skipped == len(image.blobs) - 1 > 0
    assert result.blobs_copied == 1
    assert result.retries == 0
    check_copy(client, result, target, image)


def test_a_registry_killed_mid_copy_and_restarted_on_its_storage_resumes(
    client: Client, tmp_path: Path
) -> None:
    image = big_image("killed", layers=4)
    source = seed_source(client, tmp_path, image)
    root, data_dir = tmp_path / "registry", tmp_path / "registry" / "data"
    data_dir.mkdir(parents=True)
    port = _free_port()
    target = f"127.0.0.1:{port}/{unique('dst')}:v1"
    stored: list[Digest] = []

    def kill_after_first_blob(pid: int) -> Any:
        def on_event(event: ProgressEvent) -> None:
            if event.kind == "blob-done" and not stored:
                stored.append(event.digest)
                os.kill(pid, signal.SIGKILL)

        return on_event

    with _launch(root, _base_config(port, data_dir), "http", None) as (_, _, pid):
        with pytest.raises(CopyError) as info:
            client.image_copy(
                source,
                target,
                options=CopyOptions(concurrency=1, retry_delay=0.01),
                progress=kill_after_first_blob(pid),
            )
        assert isinstance(info.value.__cause__, TransportError)
        assert stored
    client.close()
    with _launch(root, _base_config(port, data_dir), "http", None):
        result = client.image_copy(source, target, options=FAST)
        assert result.blobs_skipped >= 1, "what landed before the kill is not sent again"
        assert result.blobs_copied == len(image.blobs) - result.blobs_skipped >= 1
        check_copy(client, result, target, image)
