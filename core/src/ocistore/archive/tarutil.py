"""Reading members of image tars safely: normalised names, links followed inside the archive.

Image tars come from many tools. Some prefix names with ``./``; ``docker save`` links duplicate
layers (``<id>/layer.tar -> ../<other>/layer.tar``, regclient#451). Names are normalised once, and
links are followed only to members of the same archive: a link that leaves it, or loops, is an
error rather than a read of some other file.
"""

from __future__ import annotations

import posixpath
import tarfile
from typing import IO

from ocistore.errors import LayoutError, SizeLimitExceededError

__all__ = ["TarMembers", "normalize"]

_MAX_LINKS = 16


def normalize(name: str) -> str | None:
    """``./a//b`` -> ``a/b``; ``None`` for names that escape the archive root."""
    norm = posixpath.normpath(name.lstrip("/")) if name else ""
    if norm in ("", ".") or norm == ".." or norm.startswith("../"):
        return None
    return norm


class TarMembers:
    """The members of an open tar file by normalised name (the last entry of a name wins)."""

    def __init__(self, tar: tarfile.TarFile, what: str) -> None:
        self.tar = tar
        self.what = what
        self._members: dict[str, tarfile.TarInfo] = {}
        for info in tar.getmembers():
            name = normalize(info.name)
            if name is not None:
                self._members[name] = info

    def __contains__(self, name: str) -> bool:
        return self._resolve(name, missing_ok=True) is not None

    def _resolve(self, name: str, *, missing_ok: bool = False) -> tarfile.TarInfo | None:
        current = normalize(name)
        for _ in range(_MAX_LINKS):
            info = self._members.get(current) if current is not None else None
            if info is None:
                if missing_ok:
                    return None
                raise LayoutError(f"{self.what}: no file {name!r} in the archive")
            if info.isfile():
                return info
            if info.issym():
                assert current is not None
                target = posixpath.join(posixpath.dirname(current), info.linkname)
                if info.linkname.startswith("/"):
                    target = info.linkname
                current = normalize(target)
            elif info.islnk():
                current = normalize(info.linkname)
            else:
                raise LayoutError(f"{self.what}: {name!r} is not a regular file")
            if current is None:
                raise LayoutError(f"{self.what}: link {name!r} points outside the archive")
        raise LayoutError(f"{self.what}: too many levels of links at {name!r}")

    def info(self, name: str) -> tarfile.TarInfo:
        """The regular-file member ``name`` (after following links)."""
        found = self._resolve(name)
        assert found is not None
        return found

    def open(self, name: str) -> IO[bytes]:
        """A reader over the member's bytes (streamed, never loaded whole)."""
        info = self.info(name)
        f = self.tar.extractfile(info)
        if f is None:  # pragma: no cover - _resolve returns regular files only
            raise LayoutError(f"{self.what}: cannot read {name!r}")
        return f

    def read_small(self, name: str, limit: int) -> bytes:
        """Read a JSON document member, refusing anything over ``limit`` bytes."""
        info = self.info(name)
        if info.size > limit:
            raise SizeLimitExceededError(
                f"{self.what}: {name} is {info.size} bytes, over the {limit} byte limit"
            )
        with self.open(name) as f:
            return f.read()
