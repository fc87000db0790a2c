"""Damaged bytes and lost upload sessions, one scripted fault at a time, against the real registry.

The relay (:class:`tests.support.faultproxy.FaultProxy`) flips one byte of a chosen answer or
upload body, or forwards a ``PATCH`` and then drops its answer (distribution's session state
moves on and the client's ``Location`` goes stale). What must hold:

* bytes damaged on the way from or to a registry are read again from byte 0, counted as a
  retry, and shown in the command line's summary; a mismatch on every read ends the copy
  after ``--attempts``;
* a blob damaged in a local layout fails the copy at once, naming the file, and nothing of
  it reaches the target;
* an upload session the registry lost or refused is replaced by a new one, by the plugin when
  its reader can seek back, by the copy engine otherwise;
* nothing wrong is ever stored under a digest.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocistore.client import Client
from ocistore.copy import CopyOptions, ProgressEvent
from ocistore.digest import Digest
from ocistore.errors import BlobNotFoundError, CopyError, DigestMismatchError
from ocistore.settings import HostConfig, Settings
from ocistore.testing.content import random_bytes
from tests.support.faultproxy import FaultProxy
from tests.support.registry import RunningRegistry
from tests.test_cli import run
from tests.test_copy_faults import REG_OPTIONS, big_image, check_copy, last_layer, seed_source

pytestmark = [pytest.mark.registry, pytest.mark.timeout(120)]

FAST = CopyOptions(retry_delay=0.01)


@pytest.fixture
def proxy(registry_anon: RunningRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry_anon.host) as relay:
        yield relay


def make_client(chunked_host: str | None = None) -> Client:
    hosts = {}
    if chunked_host is not None:
        hosts[chunked_host] = HostConfig(
            chunked_host, tls="disabled", blob_max=0, blob_chunk=256 * 1024
        )
    settings = Settings(hosts=hosts, docker_config=False, options={"reg": dict(REG_OPTIONS)})
    return Client(settings=settings)


@pytest.fixture
def client() -> Iterator[Client]:
    with make_client() as c:
        yield c


def repo(host: str) -> str:
    return f"{host}/corruption-{uuid.uuid4().hex[:8]}/img"


def stored_files_match_their_names(layout: Path) -> None:
    for path in (layout / "blobs" / "sha256").iterdir():
        assert Digest.from_bytes(path.read_bytes()).encoded == path.name, path


# -- part 1: damaged on the way --------------------------------------------------------------
def test_a_byte_flipped_in_a_download_is_read_again_from_byte_0(
    client: Client, proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = big_image("flip-get")
    source = seed_source(client, tmp_path, image, registry_anon.host)
    layer = last_layer(image)
    flip = proxy.rule("GET", rf"/blobs/sha256:{layer.encoded}", "flip")
    target = f"ocidir://{tmp_path / 'out'}:v1"
    events: list[ProgressEvent] = []
    result = client.image_copy(
        source.replace(registry_anon.host, proxy.host), target, options=FAST, progress=events.append
    )
    assert flip.hits == 1
    assert result.retries == 1
    retries = [e for e in events if e.kind == "blob-retry" and e.digest == layer]
    assert len(retries) == 1
    assert retries[0].detail is not None
    assert "digest mismatch" in retries[0].detail
    check_copy(client, result, target, image)
    stored_files_match_their_names(tmp_path / "out")


def test_a_byte_flipped_in_every_download_fails_after_the_attempts_with_nothing_stored(
    client: Client, proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = big_image("flip-always")
    source = seed_source(client, tmp_path, image, registry_anon.host)
    layer = last_layer(image)
    flip = proxy.rule("GET", rf"/blobs/sha256:{layer.encoded}", "flip", times=-1)
    with pytest.raises(CopyError) as info:
        client.image_copy(
            source.replace(registry_anon.host, proxy.host),
            f"ocidir://{tmp_path / 'out'}:v1",
            options=CopyOptions(attempts=4, retry_delay=0.01),
        )
    assert flip.hits == 4, "each attempt flips another byte: retried until --attempts ran out"
    assert "gave up after 4 attempts" in str(info.value)
    assert isinstance(info.value.__cause__, DigestMismatchError)
    assert not (tmp_path / "out" / "blobs" / "sha256" / layer.encoded).exists()
    stored_files_match_their_names(tmp_path / "out")


def test_a_byte_flipped_in_a_manifest_download_is_read_again(
    client: Client, proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = big_image("flip-manifest", layers=1)
    source = seed_source(client, tmp_path, image, registry_anon.host)
    flip = proxy.rule("GET", rf"/manifests/sha256:{image.digest.encoded}", "flip")
    target = f"ocidir://{tmp_path / 'out'}:v1"
    result = client.image_copy(source.replace(registry_anon.host, proxy.host), target, options=FAST)
    assert flip.hits == 1
    assert result.retries == 1
    check_copy(client, result, target, image)


@pytest.mark.parametrize("chunked", [False, True], ids=["single-put", "chunked"])
def test_a_byte_flipped_in_an_upload_is_sent_again(
    proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path, chunked: bool
) -> None:
    """The registry answers DIGEST_INVALID for bytes the plugin hashed right as it sent them."""
    image = big_image(f"flip-put-{chunked}")
    layer = last_layer(image)
    method = "PATCH" if chunked else "PUT"
    pattern = r"/blobs/uploads/" if chunked else rf"/blobs/uploads/.*{layer.encoded}"
    with make_client(proxy.host if chunked else None) as client:
        source = seed_source(client, tmp_path, image)
        flip = proxy.rule(method, pattern, "flip")
        target = f"{repo(proxy.host)}:v1"
        result = client.image_copy(
            source, target, options=CopyOptions(concurrency=1, retry_delay=0.01)
        )
        assert flip.hits == 1
        assert result.retries == 1
        check_copy(client, result, target.replace(proxy.host, registry_anon.host), image)


def test_a_blob_damaged_in_a_local_layout_fails_at_once_naming_the_file(
    client: Client, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = big_image("local-damage")
    source = seed_source(client, tmp_path, image)
    layer = last_layer(image)
    path = tmp_path / "src" / "blobs" / "sha256" / layer.encoded
    data = bytearray(path.read_bytes())
    data[1000] ^= 0x40
    path.write_bytes(bytes(data))
    target = f"{repo(registry_anon.host)}:v1"
    with pytest.raises(CopyError) as info:
        client.image_copy(source, target, options=FAST)
    message = str(info.value)
    assert f"blobs/sha256/{layer.encoded}" in message
    assert "attempts" not in message, "a damaged file reads the same every time: one attempt"
    assert info.value.hint is not None
    assert "damaged" in info.value.hint
    with pytest.raises(BlobNotFoundError):
        client.blob_head(client.parse(target).bare(), layer)


def test_the_command_line_shows_the_retry_of_damaged_bytes(
    proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path, client: Client
) -> None:
    image = big_image("flip-cli", layers=1)
    source = seed_source(client, tmp_path, image, registry_anon.host)
    proxy.rule("GET", rf"/blobs/sha256:{last_layer(image).encoded}", "flip")
    result = run(
        "image",
        "copy",
        source.replace(registry_anon.host, proxy.host),
        f"ocidir://{tmp_path / 'cli'}:v1",
        "--attempts",
        "3",
    )
    assert "1 transfers retried" in result.stdout.decode()
    stored_files_match_their_names(tmp_path / "cli")


# -- part 2: upload sessions the registry lost -----------------------------------------------
def test_a_copy_replaces_an_upload_session_the_registry_lost(
    proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    """The second PATCH is applied but its answer dropped: the session's state moved on, the
    client's Location is stale, and distribution answers BLOB_UPLOAD_INVALID from then on."""
    image = big_image("session-lost", layers=1)
    with make_client(proxy.host) as client:
        source = seed_source(client, tmp_path, image)
        proxy.rule("PATCH", r"/blobs/uploads/", "drop", times=1)
        target = f"{repo(proxy.host)}:v1"
        events: list[ProgressEvent] = []
        result = client.image_copy(
            source,
            target,
            options=CopyOptions(concurrency=1, retry_delay=0.01),
            progress=events.append,
        )
        assert result.retries == 1
        retry = [e.detail or "" for e in events if e.kind == "blob-retry"]
        assert len(retry) == 1
        assert "BLOB_UPLOAD" in retry[0]
        check_copy(client, result, target.replace(proxy.host, registry_anon.host), image)


def test_blob_put_with_a_seekable_reader_starts_a_new_session_itself(
    proxy: FaultProxy, registry_anon: RunningRegistry
) -> None:
    data = random_bytes(700 * 1024, "session-seek")
    digest = Digest.from_bytes(data)
    drop = proxy.rule("PATCH", r"/blobs/uploads/", "drop", times=1)
    with make_client(proxy.host) as client:
        ref = client.parse(repo(proxy.host))
        assert client.scheme(ref).blob_put(ref, digest, io.BytesIO(data), len(data)) == (
            digest,
            len(data),
        )
        assert drop.hits == 1
        direct = client.parse(str(ref).replace(proxy.host, registry_anon.host))
        with client.blob_get(direct, digest, size=len(data)) as reader:
            assert reader.read() == data


def test_a_session_lost_for_good_fails_after_the_attempts(
    proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path
) -> None:
    image = big_image("session-gone", layers=1)
    with make_client(proxy.host) as client:
        source = seed_source(client, tmp_path, image)
        drop = proxy.rule("PATCH", r"/blobs/uploads/", "drop", times=-1)
        with pytest.raises(CopyError) as info:
            client.image_copy(
                source,
                f"{repo(proxy.host)}:v1",
                options=CopyOptions(concurrency=1, attempts=2, retry_delay=0.01),
            )
        assert drop.hits >= 2
        assert "gave up after 2 attempts" in str(info.value)


def test_the_registry_never_holds_a_wrong_blob_after_damaged_uploads(
    proxy: FaultProxy, registry_anon: RunningRegistry, tmp_path: Path, client: Client
) -> None:
    """Flipped bodies on every upload: the copy fails, and the registry has no such blob."""
    image = big_image("never-wrong", layers=1)
    source = seed_source(client, tmp_path, image)
    layer = last_layer(image)
    proxy.rule("PUT", rf"/blobs/uploads/.*{layer.encoded}", "flip", times=-1)
    target = f"{repo(proxy.host)}:v1"
    with pytest.raises(CopyError):
        client.image_copy(source, target, options=FAST)
    direct = client.parse(target.replace(proxy.host, registry_anon.host)).bare()
    with pytest.raises(BlobNotFoundError):
        client.blob_head(direct, layer)
