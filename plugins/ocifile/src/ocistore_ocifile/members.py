"""The members of an image tar, indexed once, read by seeking: never extracted.

An :class:`Archive` is built by one pass over the tar headers (``tarfile`` skips over the data
of a plain tar by seeking; a gzip-compressed tar is inflated once for the pass). It records,
per regular file, where its bytes start and how many there are; reading a blob later opens the
file, seeks there and reads exactly that many bytes. Nothing is unpacked to disk or memory.

Image tars come from many tools, so names are normalised (``./a`` is ``a``) and links are
followed, but only inside the archive. What a hostile tar could use to make a reader touch
something else is refused when the tar is indexed, with an error naming the member:

* absolute names, and names with a ``..`` component;
* links (symbolic or hard) whose target is absolute, leaves the archive, or loops;
* the same file name twice (which of the two a tool would read is a matter of taste);
* devices, FIFOs and sparse files, which no image tar has.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast

from ocistore.errors import LayoutError, SizeLimitExceededError

__all__ = ["GZIP_MAGIC", "Archive", "Member", "copy_bytes", "is_gzip", "normalize", "stat_key"]

GZIP_MAGIC = b"\x1f\x8b"
_MAX_LINKS = 16
_CHUNK = 1024 * 1024


def normalize(name: str) -> str:
    """``./a//b`` -> ``a/b``; raises for names a hostile tar uses to escape its root."""
    if name.startswith("/"):
        raise ValueError(f"member {name!r} has an absolute name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"member {name!r} has a '..' component")
    return "/".join(parts)


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def stat_key(path: Path) -> tuple[int, ...]:
    """What changes when a tar is replaced (rename gives a new inode) or rewritten."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _Raw(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Member:
    """A regular file in the tar: its normalised name, data offset and size."""

    name: str
    offset: int
    size: int


class _Slice:
    """Reads ``size`` bytes of ``raw`` from where it stands, then reports end of file."""

    def __init__(self, raw: _Raw, size: int) -> None:
        self._raw = raw
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._raw.read(n)
        self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _Slice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Archive:
    """The regular files of one tar by normalised name, links already resolved."""

    def __init__(self, path: Path, members: dict[str, Member], *, compressed: bool) -> None:
        self.path = path
        self.what = str(path)
        self.compressed = compressed
        self.members = members

    @classmethod
    def load(cls, path: Path) -> Archive:
        """Index ``path`` (plain or gzip); ``LayoutError`` for a hostile or broken tar."""
        what = str(path)
        compressed = is_gzip(path)
        try:
            with open(path, "rb") as raw:
                stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
                with tarfile.open(fileobj=cast("IO[bytes]", stream), mode="r:") as tar:
                    return cls(path, _index(tar, what), compressed=compressed)
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, UnicodeError) as e:
            raise LayoutError(f"{what}: not a readable tar archive: {e}") from None
        except ValueError as e:
            raise LayoutError(f"{what}: {e}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.members

    def names(self) -> list[str]:
        return list(self.members)

    def get(self, name: str) -> Member:
        found = self.members.get(name)
        if found is None:
            raise LayoutError(f"{self.what}: no file {name!r} in the archive")
        return found

    def open(self, member: Member) -> _Slice:
        """A reader over exactly the member's bytes (its own file handle: thread-safe)."""
        raw = open(self.path, "rb")  # noqa: SIM115 - the slice owns and closes it
        try:
            if self.compressed:
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
                stream.seek(member.offset)  # inflates up to there; memory stays bounded
                return _Slice(_Owned(stream, raw), member.size)
            raw.seek(member.offset)
        except BaseException:
            raw.close()
            raise
        return _Slice(raw, member.size)

    def read_small(self, name: str, limit: int) -> bytes:
        """A JSON document member, refusing anything over ``limit`` bytes."""
        member = self.get(name)
        if member.size > limit:
            raise SizeLimitExceededError(
                f"{self.what}: {name} is {member.size} bytes, over the {limit} byte limit"
            )
        with self.open(member) as f:
            data = f.read()
        if len(data) != member.size:
            raise LayoutError(f"{self.what}: {name} is cut short")
        return data


class _Owned:
    """A gzip stream that closes the file under it too."""

    def __init__(self, stream: _Raw, raw: _Raw) -> None:
        self._stream = stream
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._raw.close()


def _index(tar: tarfile.TarFile, what: str) -> dict[str, Member]:
    files: dict[str, Member] = {}
    links: dict[str, tuple[str, bool]] = {}  # name -> (target, symbolic)
    seen: set[str] = set()
    for info in tar:
        name = normalize(info.name)
        if info.isdir() or not name:
            continue
        if name in seen:
            raise ValueError(f"member {name!r} appears twice")
        seen.add(name)
        if info.issparse():
            raise ValueError(f"member {name!r} is a sparse file, which image tars never hold")
        if info.isfile():
            files[name] = Member(name, info.offset_data, info.size)
        elif info.issym() or info.islnk():
            if info.linkname.startswith("/"):
                raise ValueError(f"link {name!r} points to an absolute path {info.linkname!r}")
            links[name] = (info.linkname, info.issym())
        else:
            raise ValueError(f"member {name!r} is not a regular file, directory or link")
    for name in links:
        target = _resolve(name, files, links)
        if target is not None:
            files[name] = Member(name, target.offset, target.size)
    return files


def _resolve(
    name: str, files: dict[str, Member], links: dict[str, tuple[str, bool]]
) -> Member | None:
    """The regular file a link leads to (``None`` when it dangles inside the archive)."""
    current = name
    for _ in range(_MAX_LINKS):
        if current in files:
            return files[current]
        if current not in links:
            return None
        target, symbolic = links[current]
        joined = posixpath.join(posixpath.dirname(current), target) if symbolic else target
        norm = posixpath.normpath(joined)
        if norm == ".." or norm.startswith("../"):
            raise ValueError(f"link {name!r} points outside the archive ({target!r})")
        current = normalize(norm)
    raise ValueError(f"too many levels of links at {name!r}")


def copy_bytes(src: IO[bytes] | _Slice, dst: IO[bytes], size: int) -> None:
    """Copy exactly ``size`` bytes in bounded chunks (a short source is an error)."""
    left = size
    while left > 0:
        chunk = src.read(min(_CHUNK, left))
        if not chunk:
            raise LayoutError(f"archive member ended {left} bytes early")
        dst.write(chunk)
        left -= len(chunk)
