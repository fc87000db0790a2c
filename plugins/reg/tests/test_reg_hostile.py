"""A hostile registry: whatever a server sends, reads stay bounded, slowness times out, and the
error says what was wrong.

The fake registry streams bodies as it makes them (``Reply.stream``): endless manifests, error
bodies, token answers and pages; blobs longer than their descriptor; a lying
``Docker-Content-Digest``; ``Link`` pagination that loops or never ends; one byte a second; a
redirect or an upload ``Location`` to another host that misbehaves. Each test asserts the error
class and message, how many bytes the server got to send before the client stopped reading
(``FakeRegistry.streamed``), and how long it took, with the time limits set small through the
reg options so that nothing here waits long.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Callable, Iterator

import pytest
from regfakes import FakeRegistry, Harness, MakeHarness, Reply, Seen, StandInAuth

from ocistore import mediatype as mt
from ocistore.digest import Digest
from ocistore.errors import (
    AuthError,
    DigestMismatchError,
    ManifestNotFoundError,
    OCIStoreError,
    RegistryError,
    SizeLimitExceededError,
    TransportError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE
from ocistore.settings import HostConfig, Settings
from ocistore.testing.content import oci_image
from ocistore_reg import pages
from ocistore_reg.plugin import parse
from ocistore_reg.scheme import Reg
from ocistore_reg.tokenfetch import TOKEN_LIMIT
from ocistore_reg.translate import ERROR_BODY_LIMIT

#: What the client may have let the server write beyond a limit: socket buffers on both ends.
SLACK = 16 * 1024 * 1024
FAST = {"retries": 1, "read_timeout": 1.0, "body_timeout": 1.0}
IMAGE = oci_image("hostile")


def endless(piece: bytes = b"x" * 65536) -> Callable[[], Iterator[bytes]]:
    def make() -> Iterator[bytes]:
        while True:
            yield piece

    return make


def trickle(data: bytes, every: float = 1.0, most: float = 6.0) -> Callable[[], Iterator[bytes]]:
    """One byte every ``every`` seconds (``most`` seconds at the longest, so a test that fails
    still ends)."""

    def make() -> Iterator[bytes]:
        end = time.monotonic() + most
        for i in range(len(data)):
            if time.monotonic() > end:
                return
            yield data[i : i + 1]
            time.sleep(every)

    return make


def report(case: str, error: BaseException, fake: FakeRegistry, started: float) -> None:
    print(
        f"\nhostile registry, {case}: {type(error).__name__} after {time.monotonic() - started:.2f} s, "
        f"server wrote {fake.streamed} bytes: {str(error)[:150]}"
    )


# -- endless and oversized bodies ----------------------------------------------------------------


@pytest.mark.parametrize("claimed", [None, 10 * 1024**3], ids=["endless-chunked", "10-GiB-length"])
def test_an_endless_or_oversized_manifest_is_cut_at_the_limit(
    make_harness: MakeHarness, claimed: int | None
) -> None:
    h = make_harness(options=FAST)
    reply = Reply(200, headers={"Content-Type": mt.OCI_MANIFEST}, content_length=claimed)
    reply.stream = endless()
    h.fake.inject("GET", "/manifests/", reply, times=None)
    started = time.monotonic()
    with pytest.raises(SizeLimitExceededError, match="manifest limit") as info:
        h.reg.manifest_get(h.ref("a/b:v1"))
    assert h.fake.streamed < MAX_MANIFEST_SIZE + SLACK
    report(
        f"manifest {'endless' if claimed is None else 'announcing 10 GiB'}",
        info.value,
        h.fake,
        started,
    )


@pytest.mark.parametrize("status", [404, 500])
def test_an_endless_error_body_is_cut_and_the_status_still_reported(
    make_harness: MakeHarness, status: int
) -> None:
    h = make_harness(options=FAST)
    reply = Reply(status, headers={"Content-Type": "application/json"})
    reply.stream = endless(b'{"errors":[' * 4096)
    h.fake.inject("GET", "/manifests/", reply, times=None)
    started = time.monotonic()
    with pytest.raises(ManifestNotFoundError if status == 404 else RegistryError) as info:
        h.reg.manifest_get(h.ref("a/b:v1"))
    assert h.fake.streamed < ERROR_BODY_LIMIT + SLACK
    assert str(status) in str(info.value) or status == 404
    report(f"endless {status} error body", info.value, h.fake, started)


def test_a_compressed_error_body_cannot_expand_past_the_limit(make_harness: MakeHarness) -> None:
    """We ask for ``identity``; a server that gzips anyway gets its body decoded only as far
    as the error body limit (a 1 GiB bomb of zeros is 1 MiB on the wire)."""
    h = make_harness(options=FAST)
    bomb = gzip.compress(b"\0" * (256 * 1024 * 1024), compresslevel=9)
    h.fake.inject(
        "GET",
        "/manifests/",
        Reply(500, bomb, {"Content-Encoding": "gzip", "Content-Type": "text/plain"}),
        times=None,
    )
    started = time.monotonic()
    with pytest.raises(RegistryError, match="500") as info:
        h.reg.manifest_get(h.ref("a/b:v1"))
    assert time.monotonic() - started < 5
    report(f"gzip bomb error body ({len(bomb)} bytes for 256 MiB)", info.value, h.fake, started)


def test_an_endless_token_answer_is_refused(fake: FakeRegistry) -> None:
    challenge = f'Bearer realm="{fake.url}/token",service="fake"'
    fake.inject(
        "GET", "/v2/a/b/manifests/", Reply(401, headers={"WWW-Authenticate": challenge}), times=None
    )
    reply = Reply(200, headers={"Content-Type": "application/json"})
    reply.stream = endless(b'{"token":"' + b"t" * 65536)
    fake.inject("GET", "/token", reply, times=None)
    settings = Settings(docker_config=False, options={"reg": FAST}).with_host(
        HostConfig(fake.host, tls="disabled")
    )
    started = time.monotonic()
    with pytest.raises(AuthError, match="more than") as info:
        Reg(settings).manifest_get(parse(f"{fake.host}/a/b:v1"))
    assert fake.streamed < TOKEN_LIMIT + SLACK
    report("endless token answer", info.value, fake, started)


# -- blobs longer than their descriptor, lying digests ------------------------------------------


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "chunked"])
def test_a_blob_longer_than_its_descriptor_is_refused(
    make_harness: MakeHarness, announce: bool
) -> None:
    h = make_harness(options=FAST)
    data = b"b" * 1000
    digest = Digest.from_bytes(data)
    reply = Reply(200, content_length=10**9 if announce else None)
    reply.stream = endless(b"b" * 1000)
    h.fake.inject("GET", f"/blobs/{digest}", reply, times=None)
    started = time.monotonic()
    with (
        pytest.raises(SizeLimitExceededError) as info,
        h.reg.blob_get(h.ref("a/b"), digest, size=len(data)) as reader,
    ):
        reader.verify_to_end()
    assert h.fake.streamed < len(data) + SLACK
    report(
        f"blob longer than its descriptor ({'announced' if announce else 'chunked'})",
        info.value,
        h.fake,
        started,
    )


def test_a_lying_docker_content_digest_is_caught(make_harness: MakeHarness) -> None:
    h = make_harness(options=FAST)
    h.fake.add_manifest("a/b", IMAGE.manifest.raw, mt.OCI_MANIFEST, tag="v1")
    lie = str(Digest.from_bytes(b"something else"))
    real = h.fake._route  # answer normally, then lie in the header

    def lying(seen: Seen) -> Reply:
        reply = real(seen)
        reply.headers["Docker-Content-Digest"] = lie
        return reply

    h.fake.inject("GET", "/manifests/", lying, times=None)
    h.fake.inject("HEAD", "/manifests/", lying, times=None)
    with pytest.raises(DigestMismatchError, match="Docker-Content-Digest") as info:
        h.reg.manifest_get(h.ref("a/b:v1"))
    with pytest.raises(DigestMismatchError, match="answers for"):
        h.reg.manifest_head(h.ref(f"a/b@{IMAGE.digest}"))
    # a blob's bytes are judged by their hash, whatever the header says
    layer = IMAGE.manifest.layers[0]
    h.fake.add_blob("a/b", IMAGE.blobs[layer.digest])
    h.fake.inject("GET", "/blobs/", lying, times=None)
    with h.reg.blob_get(h.ref("a/b"), layer.digest, size=layer.size) as reader:
        reader.verify_to_end()
    h.fake.blobs[str(layer.digest)] = b"y" * layer.size
    with (
        pytest.raises(DigestMismatchError),
        h.reg.blob_get(h.ref("a/b"), layer.digest, size=layer.size) as reader,
    ):
        reader.verify_to_end()
    print(
        f"\nhostile registry, lying Docker-Content-Digest: caught on GET, HEAD and blob: {info.value}"
    )


# -- pagination ---------------------------------------------------------------------------------


def test_link_pagination_that_loops_or_never_ends_is_an_error(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness(options=FAST)
    counter = iter(range(10**6))

    def onwards(seen: Seen) -> Reply:
        n = next(counter)
        return Reply(
            200, b'{"tags":["t%d"]}' % n, {"Link": f'</v2/a/b/tags/list?last=t{n}>; rel="next"'}
        )

    monkeypatch.setattr(pages, "MAX_PAGES", 25)
    h.fake.inject("GET", "/tags/list", onwards, times=None)
    with pytest.raises(RegistryError, match="more than 25 pages") as info:
        h.reg.tag_list(h.ref("a/b"))
    assert len(h.fake.seen("GET", "/tags/list")) == 25
    print(f"\nhostile registry, endless Link pages: stopped after 25 requests: {info.value}")
    h.fake.referrers_api = True
    loop = Reply(
        200,
        json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}).encode(),
        {"Content-Type": mt.OCI_INDEX, "Link": f'</v2/a/b/referrers/{IMAGE.digest}>; rel="next"'},
    )
    h.fake.inject("GET", "/referrers/", loop, times=None)
    with pytest.raises(RegistryError, match="loops back") as info:
        h.reg.referrers(h.ref("a/b"), IMAGE.digest)
    print(f"hostile registry, looping referrers pages: {info.value}")


# -- slowness -----------------------------------------------------------------------------------


def test_a_manifest_at_one_byte_a_second_times_out(make_harness: MakeHarness) -> None:
    h = make_harness(options={**FAST, "read_timeout": 5.0, "body_timeout": 1.5})
    reply = Reply(
        200, headers={"Content-Type": mt.OCI_MANIFEST}, content_length=len(IMAGE.manifest.raw)
    )
    reply.stream = trickle(IMAGE.manifest.raw)
    h.fake.inject("GET", "/manifests/", reply, times=None)
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"timed out .* body_timeout") as info:
        h.reg.manifest_get(h.ref("a/b:v1"))
    assert time.monotonic() - started < 4
    report("manifest at 1 byte/s (body_timeout 1.5 s)", info.value, h.fake, started)


def test_an_error_body_at_one_byte_a_second_still_ends_with_the_status(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(options={**FAST, "read_timeout": 5.0, "body_timeout": 1.5})
    reply = Reply(404, headers={"Content-Type": "application/json"})
    reply.stream = trickle(b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
    h.fake.inject("GET", "/manifests/", reply, times=None)
    started = time.monotonic()
    with pytest.raises(ManifestNotFoundError) as info:
        h.reg.manifest_get(h.ref("a/b:v1"))
    assert time.monotonic() - started < 4
    report("404 error body at 1 byte/s", info.value, h.fake, started)


def test_a_blob_at_one_byte_a_second_is_abandoned(make_harness: MakeHarness) -> None:
    h = make_harness(
        options={**FAST, "read_timeout": 5.0, "low_speed_limit": 100, "low_speed_time": 1.5}
    )
    data = b"z" * 100
    digest = Digest.from_bytes(data)
    reply = Reply(200, content_length=len(data))
    reply.stream = trickle(data)
    h.fake.inject("GET", f"/blobs/{digest}", reply, times=None)
    started = time.monotonic()
    with (
        pytest.raises(TransportError, match="too slow") as info,
        h.reg.blob_get(h.ref("a/b"), digest, size=len(data)) as reader,
    ):
        reader.verify_to_end()
    assert time.monotonic() - started < 4
    report("blob at 1 byte/s (low_speed_limit 100 B/s over 1.5 s)", info.value, h.fake, started)


def test_silence_after_the_headers_times_out(make_harness: MakeHarness) -> None:
    h = make_harness(options={**FAST, "read_timeout": 0.5})
    reply = Reply(200, headers={"Content-Type": mt.OCI_MANIFEST}, content_length=100)

    def silent() -> Iterator[bytes]:
        time.sleep(3)
        yield b""

    reply.stream = silent
    h.fake.inject("GET", "/manifests/", reply, times=None)
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out") as info:
        h.reg.manifest_get(h.ref("a/b:v1"))
    assert time.monotonic() - started < 2.5
    report("silence after the headers (read_timeout 0.5 s)", info.value, h.fake, started)


# -- another host -------------------------------------------------------------------------------


def test_a_redirect_to_another_host_gets_the_same_bounds(make_harness: MakeHarness) -> None:
    with FakeRegistry(host="localhost") as other:
        h = make_harness(auth=StandInAuth(header="Bearer secret-for-127"), options=FAST)
        h.fake.inject(
            "GET",
            "/manifests/",
            Reply(307, headers={"Location": f"http://{other.host}/cdn/manifest"}),
            times=None,
        )
        reply = Reply(200, headers={"Content-Type": mt.OCI_MANIFEST})
        reply.stream = endless()
        other.inject("GET", "/cdn/", reply, times=None)
        started = time.monotonic()
        with pytest.raises(SizeLimitExceededError) as info:
            h.reg.manifest_get(h.ref("a/b:v1"))
        assert other.streamed < MAX_MANIFEST_SIZE + SLACK
        (hit,) = other.seen("GET", "/cdn/")
        assert "Authorization" not in hit.headers
        report(
            "redirect to another host that sends an endless manifest", info.value, other, started
        )


def test_an_upload_location_on_a_silent_host_times_out_naming_it(
    make_harness: MakeHarness,
) -> None:
    with FakeRegistry(host="localhost") as other:
        h = make_harness(
            auth=StandInAuth(header="Bearer secret-for-127"), options={**FAST, "read_timeout": 0.5}
        )
        h.fake.inject(
            "POST",
            "/blobs/uploads/",
            Reply(202, headers={"Location": f"http://{other.host}/upload/1"}),
            times=None,
        )
        stall = Reply(201, delay=3.0)  # not even a status line before the client gives up
        for method in ("PUT", "PATCH"):
            other.inject(method, "/upload/", stall, times=None)
        data = b"blob for another host"
        started = time.monotonic()
        with pytest.raises(OCIStoreError) as info:
            h.reg.blob_put(h.ref("a/b"), Digest.from_bytes(data), io.BytesIO(data), len(data))
        assert time.monotonic() - started < 5
        # the other host's silence ended the upload; it never saw our credentials
        assert other.seen("PUT", "/upload/")
        assert all("Authorization" not in s.headers for s in other.requests)
        report("upload Location on a silent host", info.value, other, started)


def test_hostile_answers_leave_the_harness_usable(harness: Harness) -> None:
    """After all that, the transport still works for an honest answer (no poisoned pool)."""
    harness.fake.add_manifest("a/b", IMAGE.manifest.raw, mt.OCI_MANIFEST, tag="v1")
    bad = Reply(200, headers={"Content-Type": mt.OCI_MANIFEST})
    bad.stream = endless()
    harness.fake.inject("GET", "/manifests/", bad, times=1)
    with pytest.raises(SizeLimitExceededError):
        harness.reg.manifest_get(harness.ref("a/b:v1"))
    assert harness.reg.manifest_get(harness.ref("a/b:v1")).digest == IMAGE.digest
