"""Durable file writes: temp file in the same directory, fsync, rename, fsync the directory.

Every byte ocidir puts on disk goes through here, so a crash (power loss, SIGKILL) at any moment
leaves either the old file or the new one, never a torn one. The temp file must live in the
target's directory because ``rename`` is only atomic within one filesystem, and the directory
is fsynced afterwards because the rename itself is a change to the directory that the kernel may
otherwise still hold in memory.

Temp files are named ``.<hint>.<random>.tmp`` so that garbage collection recognises the ones a
crashed writer left behind, and so that no temp name can ever be mistaken for a digest.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "FILE_MODE",
    "TEMP_SUFFIX",
    "atomic_write",
    "fsync_dir",
    "is_temp_name",
    "open_temp",
    "remove_quietly",
]

TEMP_SUFFIX = ".tmp"
#: New files get the usual 0666 minus the umask, like any tool that writes layouts.
FILE_MODE = 0o666


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of our temp files (hidden, ``.tmp`` suffix)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


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
