"""Writing a tar beside the one it replaces: members appended once, renamed into place at the end.

A :class:`TarWriter` owns a temporary file in the target's directory (``.<name>.<random>.tmp``),
so that :meth:`~TarWriter.commit` can ``os.replace`` it over the target atomically: a reader sees
the old tar or the new one, never half of one, and a failed or killed write leaves the old tar as
it was (a killed process leaves the temporary file, nothing else).

Each blob streams from its reader into the file exactly once, hashed on the way. Its header is
written as a placeholder first and rewritten once the size and digest are known (GNU headers
have the same length whatever the size, so the rewrite fits), which is what lets a blob of
unknown length go straight in. A blob that fails its digest or size check is cut off again
(``truncate``), so nothing of it stays in the archive.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from ocistore.digest import Digest, Hasher
from ocistore.errors import DigestMismatchError, ShortReadError, SizeLimitExceededError

__all__ = ["Readable", "TarWriter"]

_BLOCK = tarfile.BLOCKSIZE
_CHUNK = 1024 * 1024


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def _header(name: str, size: int) -> bytes:
    """A reproducible header: fixed mtime, owner and mode, so equal content gives equal tars."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


class TarWriter:
    """A new tar being written next to ``target``; ``commit`` or ``abort`` ends it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path(".")
        )
        self.tmp = Path(tmp)
        self._f: IO[bytes] = os.fdopen(fd, "w+b")
        self._closed = False
        self._committed = False

    def add_bytes(self, name: str, data: bytes) -> int:
        """Append a small member; returns the offset of its data."""
        self._f.write(_header(name, len(data)))
        offset = self._f.tell()
        self._f.write(data)
        self._f.write(_padding(len(data)))
        self._f.flush()
        return offset

    def copy_in(self, name: str, src: Readable, size: int) -> int:
        """Append ``size`` bytes read from ``src`` unchanged (content already verified)."""
        self._f.write(_header(name, size))
        offset = self._f.tell()
        left = size
        while left > 0:
            chunk = src.read(min(_CHUNK, left))
            if not chunk:
                raise ShortReadError(f"{name}: source ended {left} bytes early")
            self._f.write(chunk)
            left -= len(chunk)
        self._f.write(_padding(size))
        self._f.flush()
        return offset

    def add_stream(
        self,
        name_of: Callable[[Digest], str],
        reader: Readable,
        *,
        digest: Digest | None,
        length: int | None,
        what: str,
        wanted: Callable[[str], bool] = lambda name: True,
    ) -> tuple[Digest, int, int | None]:
        """Stream ``reader`` into a new member named ``name_of(digest)``, verifying it.

        Returns ``(digest, size, data offset)``. On any failure the member is removed again,
        and so it is when ``wanted(name)`` says no (the content was there already): then the
        offset is ``None``.
        """
        algorithm = digest.algorithm if digest is not None else "sha256"
        hasher = Hasher(algorithm)
        placeholder = len(_header(name_of(_shaped(algorithm)), 0))
        start = self._f.tell()
        try:
            self._f.write(b"\0" * placeholder)
            offset = self._f.tell()
            while True:
                want = _CHUNK if length is None else min(_CHUNK, length - hasher.size + 1)
                chunk = reader.read(want) if want > 0 else b""
                if not chunk:
                    break
                hasher.update(chunk)
                if length is not None and hasher.size > length:
                    raise SizeLimitExceededError(f"{what}: more than the declared {length} bytes")
                self._f.write(chunk)
            size = hasher.size
            if length is not None and size != length:
                raise ShortReadError(f"{what}: stream ended after {size} of {length} bytes")
            actual = hasher.digest()
            if digest is not None and actual != digest:
                raise DigestMismatchError(
                    f"{what}: digest mismatch, expected {digest}, got {actual}"
                )
            name = name_of(actual)
            if not wanted(name):
                self.rollback(start)
                return actual, size, None
            header = _header(name, size)
            if len(header) != placeholder:  # pragma: no cover - GNU headers do not grow
                raise AssertionError("tar header length changed")
            self._f.write(_padding(size))
            self._f.seek(start)
            self._f.write(header)
            self._f.seek(0, os.SEEK_END)
            self._f.flush()
        except BaseException:
            self.rollback(start)
            raise
        return actual, size, offset

    def rollback(self, position: int) -> None:
        """Cut the file back to ``position`` (the start of a member that failed)."""
        self._f.seek(position)
        self._f.truncate()
        self._f.flush()

    def commit(self) -> None:
        """End the archive, make it durable, and rename it over the target."""
        self._f.write(b"\0" * (2 * _BLOCK))
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        self._closed = True
        try:
            mode = os.stat(self.target).st_mode & 0o777  # a replaced tar keeps its mode
        except FileNotFoundError:
            mode = 0o644
        os.chmod(self.tmp, mode)
        os.replace(self.tmp, self.target)
        self._committed = True
        with contextlib.suppress(OSError):  # not every filesystem can fsync a directory
            dir_fd = os.open(self.target.parent or Path("."), os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def abort(self) -> None:
        """Drop the temporary file; the target is untouched. Nothing to do after ``commit``."""
        if self._committed:
            return
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self._f.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def _shaped(algorithm: str) -> Digest:
    """A digest of ``algorithm``'s length, to size the placeholder header."""
    return Hasher(algorithm).digest()
