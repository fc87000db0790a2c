"""Blob files of one layout: verified reads, crash-safe writes, links between layouts.

A blob is only ever created by renaming a complete, fsynced, verified temp file into
``blobs/<alg>/<encoded>``, so a file with a digest name always holds exactly that content (unless
something outside ocistore wrote it, which is why reads verify as well). A put that fails for any
reason, including a wrong digest or size, removes its temp file before raising.

Blob files are opened without following links (``open_inside``): a link under ``blobs/`` is
refused on reads and replaced by real content on writes, never followed out of the layout.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from typing import BinaryIO

from ocistore.blob import BlobReader, RawStream
from ocistore.digest import Digest, Hasher
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ShortReadError,
    SizeLimitExceededError,
    TransportError,
)
from ocistore_ocidir.fsutil import fsync_dir, open_inside, open_temp, remove_quietly
from ocistore_ocidir.layout import Layout
from ocistore_ocidir.oserrors import describe_oserror

__all__ = ["BUFFER_SIZE", "BlobStore"]

#: Bytes read, hashed and written per step: big enough that hashing runs at full speed and
#: syscalls are rare, small enough not to matter for memory.
BUFFER_SIZE = 1024 * 1024
# Errors of os.link that mean "links do not work here", after which a copy is the answer.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}


def _read_into(reader: RawStream, view: memoryview) -> int:
    """Fill as much of ``view`` as one read gives; ``readinto`` when the reader has it.

    An ``OSError`` here is the *source's* failure (a dropped connection, an unreadable input
    file), not the layout's, so it becomes a ``TransportError`` rather than a ``LayoutError``.
    """
    try:
        readinto = getattr(reader, "readinto", None)
        if readinto is not None:
            return int(readinto(view) or 0)
        data = reader.read(len(view))
    except OSError as e:
        raise TransportError(f"reading the blob to store failed: {describe_oserror(e)}") from e
    view[: len(data)] = data
    return len(data)


def _hash_file(path: os.PathLike[str] | str, algorithm: str) -> Digest:
    hasher = Hasher(algorithm)
    buf = memoryview(bytearray(BUFFER_SIZE))
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            hasher.update(buf[:n])
    return hasher.digest()


def _enforces(reader: RawStream, digest: Digest) -> bool:
    """``reader`` raises at its end unless it hashes to ``digest``, and cannot be rewound."""
    if getattr(reader, "enforced_digest", None) != digest:
        return False
    seekable = getattr(reader, "seekable", None)
    return not (callable(seekable) and seekable())


class BlobStore:
    """The ``blobs/`` directory of one layout."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def _missing(self, digest: Digest) -> BlobNotFoundError:
        """Say which file is missing, or that the whole layout is (re-checked, not cached)."""
        self.layout.check(force=True)
        rel = self.layout.relative(self.layout.blob_path(digest))
        return BlobNotFoundError(f"blob {digest} not found in OCI layout {self.layout} (no {rel})")

    # -- reading --------------------------------------------------------------------------------
    def _where(self, digest: Digest) -> str:
        return f"{self.layout.relative(self.layout.blob_path(digest))} in OCI layout {self.layout}"

    def _open(self, digest: Digest) -> BinaryIO:
        try:
            return open_inside(self.layout.blob_path(digest), self._where(digest))
        except FileNotFoundError:
            raise self._missing(digest) from None

    def size(self, digest: Digest) -> int:
        """Size of the blob file; ``BlobNotFoundError`` when absent."""
        with self._open(digest) as fh:
            return os.fstat(fh.fileno()).st_size

    def _intact(self, digest: Digest) -> bool:
        """Whether the stored file is a real file that still hashes to its name (one read)."""
        if not self.exists(digest):
            return False  # a link or a special file: replaced by real content
        return _hash_file(self.layout.blob_path(digest), digest.algorithm) == digest

    def exists(self, digest: Digest) -> bool:
        """Whether a regular blob file is there (a link in its place does not count)."""
        try:
            return stat.S_ISREG(os.lstat(self.layout.blob_path(digest)).st_mode)
        except FileNotFoundError:
            return False

    def open(self, digest: Digest, size: int | None = None) -> BlobReader:
        """A reader that fails at end of stream unless the content matches digest and size."""
        fh = self._open(digest)
        if size is None:
            size = os.fstat(fh.fileno()).st_size
        return BlobReader(
            fh, digest=digest, size=size, name=f"blob {digest} in OCI layout {self.layout}"
        )

    def read_bytes(self, digest: Digest, limit: int) -> bytes:
        """The whole (small) blob, verified; over ``limit`` bytes is refused before reading."""
        path = self.layout.blob_path(digest)
        with self._open(digest) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise SizeLimitExceededError(
                    f"{self.layout.relative(path)} in OCI layout {self.layout} is {size} bytes, "
                    f"over the {limit} byte limit"
                )
            data = fh.read(limit + 1)
        actual = Digest.from_bytes(data, digest.algorithm)
        if actual != digest:
            raise DigestMismatchError(
                f"{self.layout.relative(path)} in OCI layout {self.layout} is corrupt: "
                f"content hashes to {actual}"
            )
        return data

    # -- writing --------------------------------------------------------------------------------
    def put(
        self,
        reader: RawStream,
        digest: Digest | None,
        length: int | None,
        *,
        claim: Callable[[Digest], None] | None = None,
    ) -> tuple[Digest, int]:
        """Stream ``reader`` into the layout; verify ``digest``/``length`` when given.

        A blob that already exists under the given digest (and length) and still hashes to it is
        not rewritten and the reader is not consumed; one that no longer verifies (damaged on
        disk, or written by a careless tool) is replaced by the new bytes. ``claim`` is called with
        the digest before the blob is looked for or renamed into place (a session uses it to
        keep a blob it was about to unlink).
        """
        if digest is not None:
            if claim is not None:
                claim(digest)
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile: upload it
                size = os.lstat(self.layout.blob_path(digest)).st_size
                if length in (None, size) and self._intact(digest):
                    return digest, size
        algorithm = digest.algorithm if digest is not None else "sha256"
        directory = self.layout.ensure_blob_dir(algorithm)
        hasher = Hasher(algorithm)
        # A one-shot reader that enforces this very digest checks itself at end of stream, which
        # the loop below always reaches: hashing again would only cost time.
        trusted = digest is not None and _enforces(reader, digest)
        out, tmp = open_temp(directory, "blob")
        try:
            with out:
                buf = memoryview(bytearray(BUFFER_SIZE))
                while True:
                    n = _read_into(reader, buf)
                    if n == 0:
                        break
                    chunk = buf[:n]
                    if trusted:
                        hasher.size += n
                    else:
                        hasher.update(chunk)
                    out.write(chunk)
                    if length is not None and hasher.size > length:
                        raise SizeLimitExceededError(
                            f"blob for OCI layout {self.layout}: more than the expected "
                            f"{length} bytes"
                        )
                out.flush()
                os.fsync(out.fileno())
            if length is not None and hasher.size < length:
                raise ShortReadError(
                    f"blob for OCI layout {self.layout}: stream ended after {hasher.size} "
                    f"of {length} bytes"
                )
            actual = digest if trusted and digest is not None else hasher.digest()
            if digest is not None and actual != digest:
                raise DigestMismatchError(
                    f"blob for OCI layout {self.layout}: expected {digest}, content hashes to "
                    f"{actual}"
                )
            if claim is not None and digest is None:
                claim(actual)
            os.replace(tmp, self.layout.blob_path(actual))
        except BaseException:
            remove_quietly(tmp)
            raise
        fsync_dir(directory)
        return actual, hasher.size

    def put_bytes(self, data: bytes, digest: Digest) -> None:
        """Store small in-memory content (manifests) whose digest the caller computed."""
        if self.exists(digest):
            return
        directory = self.layout.ensure_blob_dir(digest.algorithm)
        out, tmp = open_temp(directory, "blob")
        try:
            with out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.layout.blob_path(digest))
        except BaseException:
            remove_quietly(tmp)
            raise
        fsync_dir(directory)

    def link_from(self, source: BlobStore, digest: Digest) -> str:
        """Make ``source``'s blob available here: a hard link, else a verified copy.

        Returns ``"exists"``, ``"link"`` or ``"copy"``. A hard link shares the inode, which is
        fine because blobs are never modified in place; a copy (across filesystems, or where
        links are not allowed) streams through :meth:`put` and is verified like any upload.
        """
        src = source.layout.blob_path(digest)
        if not source.exists(digest):
            with source._open(digest):  # says what is wrong: missing, a link, a special file
                pass
            raise source._missing(digest)
        if self.exists(digest):
            return "exists"
        directory = self.layout.ensure_blob_dir(digest.algorithm)
        tmp = directory / f".link.{secrets.token_hex(8)}.tmp"
        try:
            os.link(src, tmp)
        except OSError as e:
            if e.errno not in _NO_LINK:
                raise
            with source.open(digest) as reader:
                self.put(reader, digest, reader.size)
            return "copy"
        try:
            # the source is another layout, which may be damaged or hostile: a link shares its
            # bytes, so they are verified first, like a copy's (one read, no write)
            actual = _hash_file(tmp, digest.algorithm)
            if actual != digest:
                raise DigestMismatchError(
                    f"{source._where(digest)} is corrupt: content hashes to {actual}; "
                    f"not linked into OCI layout {self.layout}"
                )
            os.replace(tmp, self.layout.blob_path(digest))
        except BaseException:
            remove_quietly(tmp)
            raise
        fsync_dir(directory)
        return "link"

    def delete(self, digest: Digest) -> None:
        """Remove the blob file; ``BlobNotFoundError`` if it was not there."""
        path = self.layout.blob_path(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            raise self._missing(digest) from None
        fsync_dir(path.parent)
