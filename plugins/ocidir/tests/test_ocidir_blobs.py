"""Blobs: verified streaming writes that leave nothing behind on failure, verified reads, mounts."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
from ocidir_testlib import NewLayout, blob_files

from ocistore.digest import Digest
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    InvalidDigestError,
    ShortReadError,
    SizeLimitExceededError,
    TransportError,
    UnsupportedError,
)
from ocistore.ref import Ref
from ocistore.testing.content import random_bytes
from ocistore_ocidir.scheme import OCIDir


def layout_files(ref: Ref) -> set[str]:
    """Every file under blobs/, temp files included."""
    root = Path(ref.path) / "blobs"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


class Exploding(io.RawIOBase):
    """A reader that fails after ``after`` bytes, like a dropped connection."""

    def __init__(self, after: int) -> None:
        self.left = after

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.left <= 0:
            raise ConnectionResetError("peer went away")
        n = min(len(b), self.left)
        b[:n] = b"z" * n
        self.left -= n
        return n


class ReadOnly:
    """A reader with ``read`` only (no ``readinto``)."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int = -1, /) -> bytes:
        return self._f.read(min(n, 1000))


DATA = random_bytes(9 * 1024 * 1024 + 3, "blob")  # more than two buffers
DIGEST = Digest.from_bytes(DATA)


@pytest.mark.parametrize(
    ("digest", "reader", "length", "error"),
    [
        (Digest.from_bytes(b"other"), io.BytesIO(DATA), len(DATA), DigestMismatchError),
        (DIGEST, io.BytesIO(DATA[:-1]), len(DATA), ShortReadError),
        (None, io.BytesIO(DATA), len(DATA) - 1, SizeLimitExceededError),
        (DIGEST, io.BytesIO(DATA + b"x"), len(DATA), SizeLimitExceededError),
        (None, io.BytesIO(DATA[:10]), 11, ShortReadError),
        (DIGEST, Exploding(5 * 1024 * 1024), None, TransportError),
    ],
    ids=["wrong-digest", "short", "long-no-digest", "long", "short-no-digest", "reader-fails"],
)
def test_failed_put_raises_and_leaves_nothing(
    scheme: OCIDir,
    layout: Ref,
    digest: Digest | None,
    reader: io.RawIOBase,
    length: int | None,
    error: type[BaseException],
) -> None:
    scheme.blob_put(layout, None, io.BytesIO(b"first"), 5)
    before = layout_files(layout)
    with pytest.raises(error):
        scheme.blob_put(layout, digest, reader, length)
    assert layout_files(layout) == before


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_put_stores_under_the_digest_algorithm(scheme: OCIDir, layout: Ref, algorithm: str) -> None:
    digest = Digest.from_bytes(DATA, algorithm)
    assert scheme.blob_put(layout, digest, io.BytesIO(DATA), len(DATA)) == (digest, len(DATA))
    assert (Path(layout.path) / "blobs" / algorithm / digest.encoded).read_bytes() == DATA
    with scheme.blob_get(layout, digest) as r:
        assert r.read() == DATA


def test_put_accepts_readers_without_readinto(scheme: OCIDir, layout: Ref) -> None:
    data = random_bytes(50_000, "ro")
    assert scheme.blob_put(layout, None, ReadOnly(data), None) == (Digest.from_bytes(data), 50_000)


def test_existing_blob_is_not_rewritten(scheme: OCIDir, layout: Ref) -> None:
    scheme.blob_put(layout, DIGEST, io.BytesIO(DATA), len(DATA))
    path = Path(layout.path) / "blobs/sha256" / DIGEST.encoded
    inode = path.stat().st_ino
    reader = io.BytesIO(DATA)
    assert scheme.blob_put(layout, DIGEST, reader, len(DATA)) == (DIGEST, len(DATA))
    assert path.stat().st_ino == inode
    assert reader.tell() == 0


def test_get_verifies_content_and_size(scheme: OCIDir, layout: Ref) -> None:
    data = b"precious content"
    digest, _ = scheme.blob_put(layout, None, io.BytesIO(data), None)
    path = Path(layout.path) / "blobs/sha256" / digest.encoded
    path.write_bytes(b"PRECIOUS content")  # same size, other bytes: bit rot
    with pytest.raises(DigestMismatchError), scheme.blob_get(layout, digest) as r:
        r.read()
    path.write_bytes(data)
    with pytest.raises(SizeLimitExceededError), scheme.blob_get(layout, digest, size=4) as r:
        r.read()
    with pytest.raises(ShortReadError), scheme.blob_get(layout, digest, size=99) as r:
        r.read()


def test_head_reports_the_size_and_names_missing_digests(scheme: OCIDir, layout: Ref) -> None:
    digest, _ = scheme.blob_put(layout, None, io.BytesIO(b"12345"), None)
    assert scheme.blob_head(layout, digest).size == 5
    missing = Digest.from_bytes(b"missing")
    with pytest.raises(BlobNotFoundError) as info:
        scheme.blob_head(layout, missing)
    assert str(missing) in str(info.value)
    assert layout.path in str(info.value)
    assert f"blobs/sha256/{missing.encoded}" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "sha256:../../etc/passwd",
        "sha256:" + "a" * 63 + "/",
        "sha256/..:" + "a" * 64,
        "../sha256:" + "a" * 64,
        "sha256:" + "A" * 64,
        "md5:" + "a" * 32,
    ],
)
def test_digests_are_validated_before_becoming_paths(text: str) -> None:
    with pytest.raises(InvalidDigestError):
        Digest.parse(text)


def test_delete(scheme: OCIDir, layout: Ref) -> None:
    digest, _ = scheme.blob_put(layout, None, io.BytesIO(b"bye"), None)
    scheme.blob_delete(layout, digest)
    assert str(digest) not in blob_files(layout)
    with pytest.raises(BlobNotFoundError, match=digest.encoded):
        scheme.blob_delete(layout, digest)


def test_mount_hard_links_within_a_filesystem(scheme: OCIDir, new_layout: NewLayout) -> None:
    src, dst = new_layout(), new_layout()
    digest, _ = scheme.blob_put(src, None, io.BytesIO(b"shared"), None)
    scheme.blob_mount(src, dst, digest)
    a = Path(src.path) / "blobs/sha256" / digest.encoded
    b = Path(dst.path) / "blobs/sha256" / digest.encoded
    assert a.stat().st_ino == b.stat().st_ino
    scheme.blob_mount(src, dst, digest)  # again: nothing to do
    scheme.blob_delete(src, digest)  # the target keeps its name for the inode
    assert b.read_bytes() == b"shared"


@pytest.mark.parametrize("code", [errno.EXDEV, errno.EPERM, errno.EMLINK])
def test_mount_copies_and_verifies_where_links_fail(
    scheme: OCIDir, new_layout: NewLayout, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    src, dst = new_layout(), new_layout()
    digest, _ = scheme.blob_put(src, DIGEST, io.BytesIO(DATA), len(DATA))

    def no_link(a: object, b: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_link)
    scheme.blob_mount(src, dst, digest)
    b = Path(dst.path) / "blobs/sha256" / digest.encoded
    assert b.read_bytes() == DATA
    assert b.stat().st_ino != (Path(src.path) / "blobs/sha256" / digest.encoded).stat().st_ino


def test_mount_copy_refuses_a_corrupt_source(
    scheme: OCIDir, new_layout: NewLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = new_layout(), new_layout()
    digest, _ = scheme.blob_put(src, None, io.BytesIO(b"good bytes"), None)
    (Path(src.path) / "blobs/sha256" / digest.encoded).write_bytes(b"evil bytes")

    def no_link(a: object, b: object) -> None:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(os, "link", no_link)
    scheme.blob_put(dst, None, io.BytesIO(b"x"), None)
    before = layout_files(dst)
    with pytest.raises(DigestMismatchError):
        scheme.blob_mount(src, dst, digest)
    assert layout_files(dst) == before


def test_mount_of_a_missing_blob_names_the_source(scheme: OCIDir, new_layout: NewLayout) -> None:
    src, dst = new_layout(), new_layout()
    scheme.blob_put(src, None, io.BytesIO(b"x"), None)
    missing = Digest.from_bytes(b"nope")
    with pytest.raises(BlobNotFoundError, match=src.path):
        scheme.blob_mount(src, dst, missing)


def test_mount_from_another_scheme_is_unsupported(scheme: OCIDir, layout: Ref) -> None:
    from ocistore.ref import parse_reg_reference

    with pytest.raises(UnsupportedError):
        scheme.blob_mount(parse_reg_reference("example.com/x"), layout, DIGEST)


def test_put_repairs_a_damaged_blob_of_the_same_size(tmp_path: Path) -> None:
    """A re-put of a blob whose file was damaged (same size) replaces it instead of trusting it."""
    from ocistore.settings import Settings
    from ocistore_ocidir.plugin import parse
    from ocistore_ocidir.scheme import OCIDir

    scheme = OCIDir(Settings())
    ref = parse(f"ocidir://{tmp_path}/lay")
    data = b"precious bytes" * 1000
    digest, _ = scheme.blob_put(ref, None, io.BytesIO(data), None)
    path = tmp_path / "lay" / "blobs" / "sha256" / digest.encoded
    path.chmod(0o644)
    path.write_bytes(b"X" * len(data))
    scheme.blob_put(ref, Digest.from_bytes(data), io.BytesIO(data), len(data))
    assert path.read_bytes() == data
    with scheme.blob_get(ref, digest) as reader:
        assert reader.read() == data


def test_put_from_an_enforcing_reader_hashes_once_and_still_rejects_bad_bytes(
    tmp_path: Path,
) -> None:
    """A BlobReader verifies at its end: ocidir relies on that instead of hashing again, so a
    reader whose bytes do not match must still leave nothing behind."""
    from ocistore.blob import BlobReader
    from ocistore.errors import DigestMismatchError
    from ocistore.settings import Settings
    from ocistore_ocidir.plugin import parse
    from ocistore_ocidir.scheme import OCIDir

    scheme = OCIDir(Settings())
    ref = parse(f"ocidir://{tmp_path}/lay")
    good = b"g" * 300_000
    digest = Digest.from_bytes(good)
    ok = BlobReader(io.BytesIO(good), digest=digest, size=len(good))
    assert ok.enforced_digest == digest
    assert scheme.blob_put(ref, digest, ok, len(good)) == (digest, len(good))
    bad_digest = Digest.from_bytes(b"b" * 300_000)
    bad = BlobReader(io.BytesIO(b"c" * 300_000), digest=bad_digest, size=300_000)
    with pytest.raises(DigestMismatchError):
        scheme.blob_put(ref, bad_digest, bad, 300_000)
    assert not (tmp_path / "lay" / "blobs" / "sha256" / bad_digest.encoded).exists()
    leftovers = [p.name for p in (tmp_path / "lay" / "blobs" / "sha256").iterdir()]
    assert leftovers == [digest.encoded]
