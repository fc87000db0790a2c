from __future__ import annotations

import hashlib

import pytest

from ocistore.digest import EMPTY_DIGEST, EMPTY_JSON_DIGEST, Digest, Hasher
from ocistore.errors import InvalidDigestError

VALID = [
    "sha256:" + "0" * 64,
    "sha256:" + hashlib.sha256(b"x").hexdigest(),
    "sha512:" + "f" * 128,
]


@pytest.mark.parametrize("text", VALID)
def test_valid_digests_round_trip(text: str) -> None:
    d = Digest.parse(text)
    assert str(d) == text
    assert Digest.parse(d) is d


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected algorithm:hex"),
        ("sha256", "expected algorithm:hex"),
        ("sha256:", "expected algorithm:hex"),
        ("sha256:" + "a" * 63, "64 lowercase hex"),
        ("sha256:" + "A" * 64, "64 lowercase hex"),
        ("sha256:" + "g" * 64, "64 lowercase hex"),
        ("sha512:" + "a" * 64, "128 lowercase hex"),
        ("md5:" + "a" * 32, "unsupported algorithm"),
        ("SHA256:" + "a" * 64, "expected algorithm:hex"),
        ("sha256:../../etc/passwd", "expected algorithm:hex"),
        ("sha256:" + "a" * 32 + "/" + "a" * 31, "expected algorithm:hex"),
        ("../sha256:" + "a" * 64, "expected algorithm:hex"),
    ],
)
def test_invalid_digests_are_rejected_before_use_as_paths(text: str, message: str) -> None:
    with pytest.raises(InvalidDigestError, match=message):
        Digest.parse(text)


def test_known_constants() -> None:
    assert str(EMPTY_DIGEST).endswith(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert str(EMPTY_JSON_DIGEST) == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


def test_hasher_counts_and_hashes() -> None:
    h = Hasher("sha512")
    h.update(b"ab")
    h.update(memoryview(b"c"))
    assert h.size == 3
    assert h.digest() == Digest("sha512", hashlib.sha512(b"abc").hexdigest())
    with pytest.raises(InvalidDigestError):
        Hasher("md5")


@pytest.mark.parametrize(
    ("digest", "tag"),
    [
        ("sha256:" + "a" * 64, "sha256-" + "a" * 64),
        ("sha512:" + "a" * 128, "sha512-" + "a" * 64),
    ],
)
def test_referrers_tag_schema(digest: str, tag: str) -> None:
    """Vectors from the distribution-spec referrers tag schema."""
    assert Digest.parse(digest).referrers_tag == tag
