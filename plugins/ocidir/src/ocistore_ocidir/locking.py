"""Cross-process locks of a layout.

Two locks, two files at the top of the layout, because they protect different things:

* :func:`index_lock` — ``filelock.FileLock`` on :data:`~ocistore_ocidir.layout.INDEX_LOCK`,
  held exclusively around every read-modify-write of index.json, so that two processes adding
  tags to one layout cannot both read version N and each write their own version N+1.
* :class:`SharedExclusiveLock` — ``flock`` on :data:`~ocistore_ocidir.layout.GC_LOCK`. Every
  process that is writing (or holds ``gc_lock``) holds it *shared*; garbage collection needs it
  *exclusive* and only tries without waiting, skipping the collection when anyone else is busy.
  That keeps a collector in one process from sweeping blobs another process pushed a moment ago
  and has not referenced yet. ``filelock`` offers only exclusive file locks (its read/write lock
  keeps an SQLite database in the directory), so this one uses ``fcntl.flock`` directly; where
  that does not exist (Windows) it degrades to a no-op and only in-process protection remains.

Both are advisory: other tools (skopeo, umoci) do not take them, so they protect ocistore
processes from each other, which is what "two writers lose no tag" needs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["IndexLock", "SharedExclusiveLock", "index_lock"]

if sys.platform != "win32":
    import fcntl

    def _flock(fd: int, shared: bool, blocking: bool) -> bool:
        op = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if not blocking:
            op |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, op)
        except BlockingIOError:
            return False
        return True

else:  # pragma: no cover - exercised only on Windows

    def _flock(fd: int, shared: bool, blocking: bool) -> bool:
        return True


def index_lock(path: Path) -> FileLock:
    """The exclusive lock around index.json updates.

    ``thread_local=False``: a session may be flushed by a thread other than the one that
    opened it; threads of one process are serialised by the caller's own mutex, not by this.
    """
    # Imported here: filelock costs ~40 ms to import and read-only verbs never lock.
    from filelock import FileLock

    return FileLock(path, thread_local=False)


class IndexLock:
    """:func:`index_lock`, made when first acquired.

    A session is opened by every batch, also by a copy that then finds everything present and
    writes nothing; such a session never takes the lock, so it need not import ``filelock``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: FileLock | None = None

    def _made(self) -> FileLock:
        if self._lock is None:
            self._lock = index_lock(self.path)
        return self._lock

    def acquire(self) -> None:
        self._made().acquire()

    def release(self) -> None:
        self._made().release()

    def __enter__(self) -> IndexLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class SharedExclusiveLock:
    """One holder's ``flock`` on a lock file: shared (blocking) or exclusive (try only).

    Each instance opens its own file description, so two instances conflict exactly as two
    processes would, which lets one process host several independent holders.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)

    def acquire_shared(self) -> None:
        """Wait until no one collects garbage, then hold the lock shared."""
        if self._fd is not None:
            return
        fd = self._open()
        try:
            _flock(fd, shared=True, blocking=True)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def try_exclusive(self) -> bool:
        """Hold the lock exclusively if nobody else holds it at all; never waits."""
        if self._fd is not None:
            raise RuntimeError("SharedExclusiveLock is already held")
        fd = self._open()
        if not _flock(fd, shared=False, blocking=False):
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock up (closing the descriptor releases the flock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
