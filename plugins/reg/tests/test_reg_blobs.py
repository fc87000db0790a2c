"""Blob download, upload and mount against the fake registry (fault cases included)."""

from __future__ import annotations

import io
import os
from typing import IO, cast

import pytest
from regfakes import Harness, MakeHarness, Reply, Seen, error, sha256

from ocistore.blob import BlobReader
from ocistore.digest import EMPTY_DIGEST, Digest, Hasher
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    RegistryError,
    ShortReadError,
    SizeLimitExceededError,
    TransportError,
    UnsupportedError,
)
from ocistore_reg import upload
from ocistore_reg.blobs import MountRefusedError
from ocistore_reg.stream import READ_BLOCK


class OneWay(io.RawIOBase):
    """A reader that cannot seek (a pipe, a socket)."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self._inner.read(min(len(b), 1000))
        b[: len(data)] = data
        return len(data)


# -- download -----------------------------------------------------------------------------------
def read_by(reader: BlobReader, size: int) -> bytes:
    """Read in ``size`` steps. A chunked answer that breaks loses the partial read it was in
    (urllib3 drops it), so reads aligned to the fake's 1000-byte chunks end exactly at the cut."""
    parts = []
    while part := reader.read(size):
        parts.append(part)
    return b"".join(parts)


def test_a_cut_download_resumes_with_range_and_verifies_the_digest(harness: Harness) -> None:
    data = os.urandom(3 * 1024 * 1024 + 11)
    digest = harness.fake.add_blob("a/b", data)
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=1024 * 1024 + 5))
    with harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader:
        assert reader.read() == data
    gets = harness.fake.seen("GET", "/blobs/sha")
    assert [g.headers.get("Range") for g in gets] == [None, f"bytes={1024 * 1024 + 5}-"]


def test_a_resume_answered_with_the_whole_blob_skips_what_was_read(harness: Harness) -> None:
    data = os.urandom(3 * 1024 * 1024 + 11)
    cut_at = 1024 * 1024 + 5
    digest = harness.fake.add_blob("a/b", data)
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=cut_at))
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data))  # Range ignored
    with harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader:
        assert reader.read() == data
    gets = harness.fake.seen("GET", "/blobs/sha")
    assert [g.headers.get("Range") for g in gets] == [None, f"bytes={cut_at}-"]


def test_a_whole_blob_answer_cut_while_skipping_is_resumed_again(harness: Harness) -> None:
    data = os.urandom(100_000)
    digest = harness.fake.add_blob("a/b", data)
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=50_000))
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=20_000))
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=70_000))
    # the fourth request reaches the fake's normal handling, which honours Range (206)
    with harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader:
        assert reader.read() == data
    ranges = [g.headers.get("Range") for g in harness.fake.seen("GET", "/blobs/sha")]
    assert ranges == [None, "bytes=50000-", "bytes=50000-", "bytes=70000-"]
    assert len(harness.sleeps) == 3, "each resume counts against the retry budget"


def test_a_whole_blob_answer_with_other_bytes_fails_the_digest_check(harness: Harness) -> None:
    data = os.urandom(100_000)
    digest = harness.fake.add_blob("a/b", data)
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=50_000))
    other = data[:60_000] + os.urandom(40_000)  # same length, different tail
    harness.fake.inject("GET", "/blobs/sha", Reply(200, other))
    with (
        harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader,
        pytest.raises(DigestMismatchError),
    ):
        reader.read()


@pytest.mark.parametrize(
    ("length", "kind"), [(100_001, SizeLimitExceededError), (99_999, ShortReadError)]
)
def test_a_whole_blob_answer_of_another_size_is_refused_before_skipping(
    harness: Harness, length: int, kind: type[Exception]
) -> None:
    data = os.urandom(100_000)
    digest = harness.fake.add_blob("a/b", data)
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=50_000))
    wrong = (data + b"!")[:length]
    harness.fake.inject("GET", "/blobs/sha", Reply(200, wrong))
    with (
        harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader,
        pytest.raises(kind, match=rf"ignored the Range.*{length} bytes, not the 100000"),
    ):
        reader.read()


def test_a_skip_is_bounded_when_the_size_is_unknown(harness: Harness) -> None:
    """No descriptor size and a chunked first answer: the whole-blob answer's length bounds
    the skip, and an answer shorter than what was delivered is refused."""
    data = os.urandom(100_000)
    digest = harness.fake.add_blob("a/b", data)
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=50_000, chunked=True))
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data[:40_000]))
    with (
        harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader,
        pytest.raises(ShortReadError, match="resume at byte 50000 and answered only 40000"),
    ):
        read_by(reader, 1000)


def test_a_chunked_whole_blob_answer_that_ends_before_the_skip_is_done_fails(
    harness: Harness,
) -> None:
    data = os.urandom(100_000)
    digest = harness.fake.add_blob("a/b", data)
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=50_000, chunked=True))
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data[:30_000], chunked=True))
    with (
        harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader,
        pytest.raises(ShortReadError, match="ended before byte 50000"),
    ):
        read_by(reader, 1000)


def test_a_chunked_download_of_unknown_size_resumes_from_a_whole_blob_answer(
    harness: Harness,
) -> None:
    data = os.urandom(100_000)
    digest = harness.fake.add_blob("a/b", data)
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=50_000, chunked=True))
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, chunked=True))
    with harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader:
        assert read_by(reader, 1000) == data
    ranges = [g.headers.get("Range") for g in harness.fake.seen("GET", "/blobs/sha")]
    assert ranges == [None, "bytes=50000-"]


def test_a_resume_must_start_where_the_download_stopped(harness: Harness) -> None:
    data = os.urandom(100_000)
    digest = harness.fake.add_blob("a/b", data)
    harness.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=50_000))
    wrong = Reply(206, data[10:], {"Content-Range": f"bytes 10-99999/{len(data)}"})
    harness.fake.inject("GET", "/blobs/sha", wrong)
    with (
        harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader,
        pytest.raises(TransportError, match="Content-Range"),
    ):
        reader.read()


def test_downloads_that_keep_breaking_give_up(make_harness: MakeHarness) -> None:
    h = make_harness(options={"retries": 3})
    data = os.urandom(10_000)
    digest = h.fake.add_blob("a/b", data)
    h.fake.inject("GET", "/blobs/sha", Reply(200, data, body_sent=100))

    def cut(seen: Seen) -> Reply:
        start = int(seen.headers["Range"].removeprefix("bytes=").rstrip("-"))
        span = {"Content-Range": f"bytes {start}-9999/10000"}
        return Reply(206, data[start:], span, body_sent=10)

    h.fake.inject("GET", "/blobs/sha", cut, times=None)
    with (
        h.reg.blob_get(h.ref("a/b"), Digest.parse(digest)) as reader,
        pytest.raises(ShortReadError, match="gave up"),
    ):
        reader.read()


def test_socket_reads_are_capped_whatever_the_caller_asks(harness: Harness) -> None:
    data = os.urandom(READ_BLOCK * 2 + 7)
    digest = harness.fake.add_blob("a/b", data)
    with harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader:
        first = reader.read(len(data))
        assert 0 < len(first) <= READ_BLOCK
        assert first + reader.read() == data


def test_downloaded_bytes_that_do_not_match_the_digest_fail(harness: Harness) -> None:
    digest = harness.fake.add_blob("a/b", b"the real content")
    harness.fake.inject("GET", "/blobs/sha", Reply(200, b"the fake content"))
    with (
        harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest)) as reader,
        pytest.raises(DigestMismatchError),
    ):
        reader.read()


def test_a_length_that_contradicts_the_descriptor_fails_before_reading(harness: Harness) -> None:
    digest = harness.fake.add_blob("a/b", b"12345")
    with pytest.raises(SizeLimitExceededError):
        harness.reg.blob_get(harness.ref("a/b"), Digest.parse(digest), size=3)


def test_missing_blob_names_digest_and_repository(harness: Harness) -> None:
    missing = Digest.from_bytes(b"nothing")
    with pytest.raises(BlobNotFoundError, match=rf"{missing}.*a/b.*BLOB_UNKNOWN"):
        harness.reg.blob_get(harness.ref("a/b"), missing)
    with pytest.raises(BlobNotFoundError, match=str(missing)):
        harness.reg.blob_head(harness.ref("a/b"), missing)


def test_blob_head_reports_the_size(harness: Harness) -> None:
    digest = harness.fake.add_blob("a/b", b"x" * 1234)
    assert harness.reg.blob_head(harness.ref("a/b"), Digest.parse(digest)).size == 1234


def test_blob_delete_and_disabled_delete(harness: Harness) -> None:
    digest = Digest.parse(harness.fake.add_blob("a/b", b"bye"))
    harness.reg.blob_delete(harness.ref("a/b"), digest)
    with pytest.raises(BlobNotFoundError):
        harness.reg.blob_head(harness.ref("a/b"), digest)
    harness.fake.delete_enabled = False
    digest = Digest.parse(harness.fake.add_blob("a/b", b"stays"))
    with pytest.raises(UnsupportedError, match="405") as info:
        harness.reg.blob_delete(harness.ref("a/b"), digest)
    assert info.value.hint is not None
    assert "delete" in info.value.hint


# -- upload -------------------------------------------------------------------------------------


def _put(h: Harness, data: bytes, **kw: object) -> tuple[Digest, int]:
    digest = kw.pop("digest", Digest.from_bytes(data))
    length = kw.pop("length", len(data))
    reader = kw.pop("reader", io.BytesIO(data))
    return h.reg.blob_put(h.ref("a/b"), digest, reader, length)  # type: ignore[arg-type]


def test_upload_tries_an_anonymous_mount_then_reuses_its_session(harness: Harness) -> None:
    data = os.urandom(5000)
    assert _put(harness, data) == (Digest.from_bytes(data), 5000)
    calls = [(s.method, s.path.split("?")[0].rsplit("/", 1)[0]) for s in harness.fake.seen()]
    assert calls == [("POST", "/v2/a/b/blobs/uploads"), ("PUT", "/v2/a/b/blobs/uploads")]
    (probe,) = harness.fake.seen("POST")
    assert probe.query == {"mount": [sha256(data)]}
    assert harness.fake.blobs[sha256(data)] == data


def test_a_blob_the_registry_already_has_is_not_sent(harness: Harness) -> None:
    data = b"already there"
    harness.fake.add_blob("other/repo", data)
    harness.fake.mount_without_from = True
    assert _put(harness, data) == (Digest.from_bytes(data), len(data))
    assert harness.fake.seen("PUT") == []
    assert harness.fake.seen("PATCH") == []


def test_relative_location_with_query_gets_the_digest_merged_in(harness: Harness) -> None:
    data = b"some layer"
    _put(harness, data)
    (put,) = harness.fake.seen("PUT")
    assert put.query["_state"] == ["s0"]
    assert put.query["digest"] == [sha256(data)]
    assert put.headers["Content-Type"] == "application/octet-stream"
    assert put.headers["Content-Length"] == str(len(data))


def test_absolute_locations_work_too(harness: Harness) -> None:
    harness.fake.relative_locations = False
    _put(harness, b"absolute")
    assert harness.fake.blobs[sha256(b"absolute")] == b"absolute"


def test_the_empty_blob_is_sent_with_no_body(harness: Harness) -> None:
    assert _put(harness, b"") == (EMPTY_DIGEST, 0)
    (put,) = harness.fake.seen("PUT")
    assert put.body == b""
    assert put.headers["Content-Length"] == "0"
    assert "Transfer-Encoding" not in put.headers


def test_a_wrong_digest_is_caught_from_the_bytes_sent(harness: Harness) -> None:
    wrong = Digest.from_bytes(b"other")
    with pytest.raises(DigestMismatchError, match=str(Digest.from_bytes(b"payload"))):
        _put(harness, b"payload", digest=wrong)
    assert harness.fake.uploads == {}  # the session was cancelled
    assert wrong.__str__() not in harness.fake.blobs


def test_a_short_source_fails_the_upload_and_cancels_the_session(harness: Harness) -> None:
    with pytest.raises(ShortReadError):
        _put(harness, b"only this", length=100, digest=Digest.from_bytes(b"x" * 100))
    assert harness.fake.uploads == {}


def test_unknown_size_is_uploaded_in_chunks_with_the_digest_computed(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(blob_chunk=4096)
    data = os.urandom(10_000)
    digest, size = h.reg.blob_put(h.ref("a/b"), None, cast("IO[bytes]", OneWay(data)), None)
    assert (digest, size) == (Digest.from_bytes(data), 10_000)
    patches = h.fake.seen("PATCH")
    assert [p.headers["Content-Range"] for p in patches] == ["0-4095", "4096-8191", "8192-9999"]
    assert [len(p.body) for p in patches] == [4096, 4096, 1808]
    (put,) = h.fake.seen("PUT")
    assert put.body == b""
    assert put.query["digest"] == [str(digest)]
    # each PATCH went to the Location the previous answer gave
    assert [p.query["_state"] for p in patches] == [["s0"], ["s4096"], ["s8192"]]


def test_chunks_respect_the_registry_minimum(make_harness: MakeHarness) -> None:
    h = make_harness(blob_chunk=1000, blob_max=0)
    h.fake.chunk_min_length = 3000
    data = os.urandom(7000)
    _put(h, data)
    assert [len(p.body) for p in h.fake.seen("PATCH")] == [3000, 3000, 1000]
    assert h.fake.blobs[sha256(data)] == data


def test_blob_max_switches_to_chunks(make_harness: MakeHarness) -> None:
    h = make_harness(blob_max=100, blob_chunk=64)
    data = os.urandom(150)
    _put(h, data)
    assert len(h.fake.seen("PATCH")) == 3
    assert h.fake.blobs[sha256(data)] == data


def test_a_416_is_recovered_from_the_upload_status(make_harness: MakeHarness) -> None:
    h = make_harness(blob_chunk=1000)
    data = os.urandom(2500)

    def lose_half(seen: Seen) -> Reply | None:
        # The registry took only half of the second chunk, then refuses the rest as out of order.
        if seen.headers.get("Content-Range") != "1000-1999":
            return None
        uid = seen.path.split("/uploads/")[1].split("?")[0]
        h.fake.uploads[uid][1].extend(seen.body[:500])
        return error(416, "BLOB_UPLOAD_INVALID", "range not satisfiable")

    h.fake.inject("PATCH", "/uploads/", lose_half)
    digest, _ = h.reg.blob_put(h.ref("a/b"), None, io.BytesIO(data), None)
    assert h.fake.blobs[str(digest)] == data
    ranges = [p.headers["Content-Range"] for p in h.fake.seen("PATCH")]
    assert ranges == ["0-999", "1000-1999", "1500-1999", "2000-2499"]
    (status,) = [s for s in h.fake.seen("GET") if "/uploads/" in s.path]
    assert status is not None


def test_a_chunk_cut_off_mid_way_is_resumed_from_the_upload_status(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(blob_chunk=1000)
    data = os.urandom(2500)

    def hang_up(seen: Seen) -> Reply | None:
        if seen.headers.get("Content-Range") != "1000-1999":
            return None
        uid = seen.path.split("/uploads/")[1].split("?")[0]
        h.fake.uploads[uid][1].extend(seen.body[:300])
        return Reply(0, drop=True)

    h.fake.inject("PATCH", "/uploads/", hang_up)
    digest, _ = h.reg.blob_put(h.ref("a/b"), None, io.BytesIO(data), None)
    assert h.fake.blobs[str(digest)] == data
    ranges = [p.headers["Content-Range"] for p in h.fake.seen("PATCH")]
    assert ranges == ["0-999", "1000-1999", "1300-1999", "2000-2499"]


def test_a_failed_single_put_falls_back_to_chunks_when_the_reader_can_seek(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(blob_chunk=4000)
    h.fake.inject("PUT", "/uploads/", error(413, "SIZE_TOO_BIG", "request entity too large"))
    data = os.urandom(10_000)
    assert _put(h, data) == (Digest.from_bytes(data), 10_000)
    assert len(h.fake.seen("PATCH")) == 3
    assert len(h.fake.seen("DELETE", "/uploads/")) == 1  # the failed session was cancelled
    assert h.fake.blobs[sha256(data)] == data


def test_a_failed_single_put_from_a_pipe_is_reported(harness: Harness) -> None:
    harness.fake.inject("PUT", "/uploads/", error(413, "SIZE_TOO_BIG"), times=None)
    data = os.urandom(3000)
    with pytest.raises(RegistryError) as info:
        _put(harness, data, reader=OneWay(data))
    assert info.value.status == 413
    assert harness.fake.uploads == {}


def test_a_single_put_is_retried_on_503_by_rewinding_the_reader(harness: Harness) -> None:
    harness.fake.inject("PUT", "/uploads/", Reply(503))
    data = os.urandom(3000)
    _put(harness, data)
    puts = harness.fake.seen("PUT")
    assert [len(p.body) for p in puts] == [3000, 3000]
    assert harness.fake.blobs[sha256(data)] == data


class SelfVerifying(io.RawIOBase):
    """A one-shot source that raises at its end unless it hashes to ``enforced_digest`` (what a
    copy hands to ``blob_put``: a verifying ``BlobReader`` behind a progress wrapper)."""

    def __init__(self, data: bytes, digest: Digest) -> None:
        super().__init__()
        self._reader = BlobReader(io.BytesIO(data), digest=digest, size=len(data))
        self.enforced_digest = digest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._reader.read(-1 if size is None else size)

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def test_a_self_verifying_source_is_not_hashed_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed = [0]

    class Counting(Hasher):
        __slots__ = ()

        def update(self, data: bytes | bytearray | memoryview) -> None:
            hashed[0] += len(data)
            super().update(data)

    monkeypatch.setattr(upload, "Hasher", Counting)
    data = os.urandom(700_000)
    digest = Digest.from_bytes(data)
    assert _put(harness, data, reader=SelfVerifying(data, digest)) == (digest, len(data))
    assert hashed[0] == 0  # the source checked itself; the upload did not hash again
    assert harness.fake.blobs[str(digest)] == data
    _put(harness, data, reader=OneWay(data))  # any other source is hashed as it is sent
    assert hashed[0] == len(data)


def test_a_self_verifying_source_that_does_not_match_stops_before_the_last_block(
    harness: Harness,
) -> None:
    data = os.urandom(700_000)
    claimed = Digest.from_bytes(b"something else")
    with pytest.raises(DigestMismatchError):
        _put(harness, data, digest=claimed, reader=SelfVerifying(data, claimed))
    assert str(claimed) not in harness.fake.blobs
    assert all(len(p.body) < len(data) for p in harness.fake.seen("PUT"))
    assert harness.fake.uploads == {}  # the session was cancelled


def test_a_self_verifying_source_in_chunks(make_harness: MakeHarness) -> None:
    h = make_harness(blob_max=0, blob_chunk=4096)
    data = os.urandom(10_000)
    digest = Digest.from_bytes(data)
    assert _put(h, data, reader=SelfVerifying(data, digest)) == (digest, len(data))
    assert h.fake.blobs[str(digest)] == data
    claimed = Digest.from_bytes(b"something else")
    with pytest.raises(DigestMismatchError):
        _put(h, data, digest=claimed, reader=SelfVerifying(data, claimed))
    assert str(claimed) not in h.fake.blobs
    assert len(h.fake.seen("PUT")) == 1  # only the good upload was closed


def test_a_seekable_source_is_hashed_whatever_it_claims(harness: Harness) -> None:
    class Claims(io.BytesIO):
        enforced_digest = Digest.from_bytes(b"other")

    with pytest.raises(DigestMismatchError, match="hashes to"):
        _put(harness, b"payload", digest=Claims.enforced_digest, reader=Claims(b"payload"))
    assert harness.fake.uploads == {}


# -- mount --------------------------------------------------------------------------------------


def test_mount_from_another_repository(harness: Harness) -> None:
    digest = Digest.parse(harness.fake.add_blob("src/repo", b"shared layer"))
    harness.reg.blob_mount(harness.ref("src/repo"), harness.ref("dst/repo"), digest)
    (post,) = harness.fake.seen("POST")
    assert post.query == {"mount": [str(digest)], "from": ["src/repo"]}
    assert digest.__str__() in harness.fake.repo_blobs["dst/repo"]
    assert harness.auth.asked[-1] == ("repository:dst/repo:pull,push", "repository:src/repo:pull")


def test_a_refused_mount_cancels_the_session_and_says_so(harness: Harness) -> None:
    digest = Digest.from_bytes(b"not in the source")
    with pytest.raises(MountRefusedError, match="did not mount") as info:
        harness.reg.blob_mount(harness.ref("src/repo"), harness.ref("dst/repo"), digest)
    assert isinstance(info.value, UnsupportedError)
    assert len(harness.fake.seen("DELETE", "/uploads/")) == 1
    assert harness.fake.uploads == {}


def test_mount_across_registries_is_unsupported(harness: Harness) -> None:
    from ocistore_reg.plugin import parse

    with pytest.raises(UnsupportedError, match="one registry"):
        harness.reg.blob_mount(
            parse("elsewhere.example.com/a"), harness.ref("a/b"), Digest.from_bytes(b"x")
        )
