from __future__ import annotations

import io

import pytest

from ocistore.blob import BlobReader
from ocistore.digest import Digest
from ocistore.errors import DigestMismatchError, ShortReadError, SizeLimitExceededError
from ocistore.testing.content import random_bytes

DATA = random_bytes(3 * 1024 * 1024 + 5, "reader")
DIGEST = Digest.from_bytes(DATA)


def test_exact_content_reads_and_fills_digest_and_size() -> None:
    r = BlobReader(io.BytesIO(DATA), digest=None, size=None)
    assert b"".join(r) == DATA
    assert (r.digest, r.size) == (DIGEST, len(DATA))
    assert r.readable()
    assert not r.seekable()


def test_small_reads_and_readinto() -> None:
    r = BlobReader(io.BytesIO(DATA), digest=DIGEST, size=len(DATA))
    buf = bytearray(7)
    assert r.readinto(buf) == 7
    assert bytes(buf) == DATA[:7]
    assert r.read(10) == DATA[7:17]
    assert r.read() == DATA[17:]
    assert r.read() == b""


@pytest.mark.parametrize(
    ("data", "digest", "size", "error"),
    [
        (DATA[:-1], DIGEST, len(DATA), ShortReadError),
        (DATA + b"x", DIGEST, len(DATA), SizeLimitExceededError),
        (DATA[:-1] + b"!", DIGEST, len(DATA), DigestMismatchError),
        (DATA[:-1] + b"!", DIGEST, None, DigestMismatchError),
    ],
)
def test_mismatches_raise_at_end_of_stream(
    data: bytes, digest: Digest, size: int | None, error: type[Exception]
) -> None:
    r = BlobReader(io.BytesIO(data), digest=digest, size=size, name="blob X")
    with pytest.raises(error, match="blob X"):
        r.verify_to_end()


def test_close_calls_underlying_close_and_hook_once() -> None:
    calls: list[str] = []
    raw = io.BytesIO(b"abc")
    with BlobReader(raw, digest=None, size=3, on_close=lambda: calls.append("x")) as r:
        assert r.read() == b"abc"
    r.close()
    assert raw.closed and r.closed
    assert calls == ["x"]


def test_a_wrong_blob_raises_before_its_last_bytes_are_handed_over() -> None:
    """A consumer that stops at the promised length never holds a whole wrong blob."""
    wrong = DATA[:-1] + b"!"
    r = BlobReader(io.BytesIO(wrong), digest=DIGEST, size=len(DATA))
    got = bytearray()

    def read_up_to_the_promised_length() -> None:
        while len(got) < len(DATA):
            got.extend(r.read(len(DATA) - len(got)))

    with pytest.raises(DigestMismatchError):
        read_up_to_the_promised_length()
    assert len(got) < len(DATA)
    with pytest.raises(DigestMismatchError):
        r.read(1)  # a judged blob stays wrong: no quiet end of stream afterwards


def test_a_longer_source_is_refused_before_the_last_promised_bytes() -> None:
    r = BlobReader(io.BytesIO(DATA + b"x"), digest=DIGEST, size=len(DATA))
    with pytest.raises(SizeLimitExceededError):
        r.read(len(DATA))


def test_the_last_read_of_a_right_blob_returns_its_bytes_and_fills_in_the_facts() -> None:
    r = BlobReader(io.BytesIO(DATA), digest=DIGEST, size=len(DATA))
    assert r.read(len(DATA)) == DATA
    assert (r.digest, r.size) == (DIGEST, len(DATA))
    assert r.read(5) == b""


@pytest.mark.parametrize("remote", [True, False])
def test_errors_carry_whether_the_bytes_crossed_a_network(remote: bool) -> None:
    for data, error in (
        (DATA[:-1] + b"!", DigestMismatchError),
        (DATA[:-1], ShortReadError),
        (DATA + b"x", SizeLimitExceededError),
    ):
        r = BlobReader(io.BytesIO(data), digest=DIGEST, size=len(DATA), remote=remote)
        with pytest.raises(error) as info:
            r.verify_to_end()
        assert info.value.remote is remote
