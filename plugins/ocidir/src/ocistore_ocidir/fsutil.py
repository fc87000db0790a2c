"""Durable file writes: temp file in the same directory, fsync, rename, fsync the directory.

Every byte ocidir puts on disk goes through here, so a crash (power loss, SIGKILL) at any moment
leaves either the old file or the new one, never a torn one. The temp file must live in the
target's directory because ``rename`` is only atomic within one filesystem, and the directory
is fsynced afterwards because the rename itself is a change to the directory that the kernel may
otherwise still hold in memory.

Temp files are named ``.<hint>.<random>.tmp`` so that garbage collection recognises the ones a
crashed writer left behind, and so that no temp name can ever be mistaken for a digest.

Reads of a layout's own files go through :func:`open_inside`: a layout handed to us may be
hostile, so a symbolic link (which could point anywhere: ``/etc/shadow``, ``/dev/zero``) or
anything that is not a regular file (a FIFO would block forever) is refused, never followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from ocistore.errors import LayoutError, SizeLimitExceededError

__all__ = [
    "FILE_MODE",
    "TEMP_SUFFIX",
    "atomic_write",
    "fsync_dir",
    "is_temp_name",
    "open_inside",
    "open_temp",
    "read_inside",
    "remove_quietly",
]

TEMP_SUFFIX = ".tmp"
#: New files get the usual 0666 minus the umask, like any tool that writes layouts.
FILE_MODE = 0o666


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of our temp files (hidden, ``.tmp`` suffix)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def open_inside(path: Path, where: str) -> BinaryIO:
    """Open a layout file for reading, refusing symbolic links and non-regular files.

    ``FileNotFoundError`` passes through (callers say what is missing); ``where`` names the file
    in the ``LayoutError`` for a link or a special file.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LayoutError(
                f"{where} is a symbolic link; ocidir does not follow links out of a layout"
            ) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise LayoutError(f"{where} is {kind}")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_inside(path: Path, limit: int, where: str) -> bytes:
    """The whole of a small layout file (:func:`open_inside`), refused over ``limit`` bytes."""
    with open_inside(path, where) as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise SizeLimitExceededError(f"{where} is {size} bytes, over the {limit} byte limit")
    return data


def open_temp(directory: Path, hint: str) -> tuple[BinaryIO, Path]:
    """Create and open a fresh temp file in ``directory`` (``O_EXCL``: never reuse a name)."""
    while True:
        path = directory / f".{hint}.{secrets.token_hex(8)}{TEMP_SUFFIX}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        except FileExistsError:  # pragma: no cover - 64 random bits colliding
            continue
        return os.fdopen(fd, "wb"), path


def fsync_dir(directory: Path) -> None:
    """Persist a rename or unlink in ``directory``; a no-op where directories cannot be fsynced."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - e.g. Windows, where directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError as e:  # pragma: no cover - some filesystems refuse fsync on directories
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def remove_quietly(path: Path) -> None:
    """Unlink ``path`` if it exists; used on cleanup paths where the original error matters."""
    with contextlib.suppress(OSError):
        path.unlink()


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, whole."""
    out, tmp = open_temp(path.parent, path.name)
    try:
        with out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    fsync_dir(path.parent)
