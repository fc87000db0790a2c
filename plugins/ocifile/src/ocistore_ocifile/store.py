"""One tar file as both schemes see it: the committed archive, and the write session on top.

Reads go to the archive on disk, indexed once per version of the file (:func:`stat_key` says
when it changed). Writes open a :class:`Session`: new members are appended to a temporary tar
beside the target as they arrive, and reads through the session see them at once. When the
session commits, the members of the old tar that were not replaced or deleted are copied after
the new ones, the scheme's final documents (``index.json``, ``manifest.json``) are appended, and
the temporary file is renamed over the target. An aborted session only removes its temporary
file, so the old tar never changes until the new one is complete.

A tar has one writer at a time. Inside a process, a :class:`TarFile` serialises writes with its
lock (blob transfers of a parallel copy queue up on it); across processes, a session holds
``.<name>.lock`` (``filelock``) from its first write until it commits or aborts, and reads the old
tar only once it holds it, so two processes adding to one tar both keep their images (the second
waits). Holding that lock also proves that any ``.<name>.*.tmp`` file beside the tar was left by
a writer that died, so a new session removes them. Readers never lock.
"""

from __future__ import annotations

import contextlib
import glob
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ocistore.errors import LayoutError, UnsupportedError
from ocistore_ocifile.members import Archive, Member, _Slice, stat_key
from ocistore_ocifile.writer import TarWriter

__all__ = ["Session", "TarFile"]


class Session:
    """Pending writes to one tar: a temporary archive plus what it replaces of the old one."""

    def __init__(self, target: Path, base: Archive | None) -> None:
        self.base = base
        self.writer = TarWriter(target)
        self.new: dict[str, Member] = {}
        self.deleted: set[str] = set()
        #: Members written to the temporary tar and deleted again: commit compacts it.
        self.dropped = False
        self._tmp_archive = Archive(self.writer.tmp, {}, compressed=False)

    def member(self, name: str) -> tuple[Archive, Member] | None:
        if name in self.new:
            return self._tmp_archive, self.new[name]
        if name in self.deleted or self.base is None or name not in self.base:
            return None
        return self.base, self.base.members[name]

    def names(self) -> list[str]:
        base = [n for n in self.base.names() if n not in self.deleted] if self.base else []
        return [*base, *(n for n in self.new if n not in base)]

    def add_bytes(self, name: str, data: bytes) -> None:
        offset = self.writer.add_bytes(name, data)
        self.new[name] = Member(name, offset, len(data))
        self.deleted.discard(name)

    def added(self, name: str, offset: int, size: int) -> None:
        self.new[name] = Member(name, offset, size)
        self.deleted.discard(name)

    def delete(self, name: str) -> None:
        if self.new.pop(name, None) is not None:
            self.dropped = True
        self.deleted.add(name)

    def commit(self, final: dict[str, bytes], keep: Callable[[str], bool]) -> None:
        """Copy what stays of the old tar, append ``final`` documents, rename into place.

        ``keep(name)`` decides for old members (the scheme drops the documents it rewrites).
        """
        writer = self.writer
        try:
            if self.dropped:  # the bytes of a deleted member are in the file: copy around them
                writer = TarWriter(self.writer.target)
                for name, member in sorted(self.new.items(), key=lambda kv: kv[1].offset):
                    with self._tmp_archive.open(member) as src:
                        writer.copy_in(name, src, member.size)
            if self.base is not None:
                for name, member in self.base.members.items():
                    if name in self.new or name in self.deleted or name in final or not keep(name):
                        continue
                    with self.base.open(member) as src:
                        writer.copy_in(name, src, member.size)
            for name, data in final.items():
                writer.add_bytes(name, data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        finally:
            self.writer.abort()  # a no-op once committed (the file was renamed away)

    def abort(self) -> None:
        self.writer.abort()


class TarFile:
    """A tar path, its cached index, and its write session (if one is open)."""

    def __init__(self, path: Path, scheme: str) -> None:
        self.path = path
        self.scheme = scheme
        self.lock = threading.RLock()
        self.session: Session | None = None
        #: Scheme-specific state of the open session (the OCI scheme keeps its index there).
        self.state: object = None
        self._batch_depth = 0
        self._flock: Any = None
        self._cached: tuple[tuple[int, ...], Archive] | None = None

    def __str__(self) -> str:
        return str(self.path)

    def archive(self) -> Archive | None:
        """The committed tar, indexed (again only when the file changed); ``None`` if absent."""
        try:
            key = stat_key(self.path)
        except FileNotFoundError:
            return None
        if self.path.is_dir():
            raise LayoutError(f"{self.scheme} {self.path}: is a directory, not a tar file")
        with self.lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
        archive = Archive.load(self.path)
        with self.lock:
            self._cached = (key, archive)
        return archive

    def member(self, name: str) -> tuple[Archive, Member] | None:
        """Where ``name`` is now: in the session's new members, or in the committed tar."""
        with self.lock:
            if self.session is not None:
                return self.session.member(name)
        archive = self.archive()
        if archive is None or name not in archive:
            return None
        return archive, archive.members[name]

    def names(self) -> list[str]:
        with self.lock:
            if self.session is not None:
                return self.session.names()
        archive = self.archive()
        return archive.names() if archive is not None else []

    def open(self, name: str) -> _Slice | None:
        found = self.member(name)
        if found is None:
            return None
        archive, member = found
        return archive.open(member)

    def begin(self, first: Callable[[Session], None] | None = None) -> Session:
        """The open session, or a new one (``first`` writes its leading members). Hold ``lock``."""
        if self.session is None:
            if self.path.name.endswith((".gz", ".tgz")):
                raise UnsupportedError(
                    f"{self.scheme} {self.path}: writing compressed tars is not supported",
                    hint="write a .tar and compress it afterwards (it stays readable as .tar.gz)",
                )
            base = self.archive()
            if base is not None and base.compressed:
                raise UnsupportedError(
                    f"{self.scheme} {self.path}: is gzip-compressed; only plain tars are written",
                    hint="decompress it first (gunzip), or write a new .tar",
                )
            if not (self.path.parent or Path(".")).is_dir():
                raise LayoutError(f"{self.scheme} {self.path}: directory does not exist")
            self._lock_file()
            try:
                self._sweep()
                base = self.archive()  # again: another process may have committed meanwhile
                session = Session(self.path, base)
                try:
                    if first is not None:
                        first(session)
                except BaseException:
                    session.abort()
                    raise
            except BaseException:
                self._unlock_file()
                raise
            self.session = session
        return self.session

    def _lock_file(self) -> None:
        from filelock import FileLock  # imported on first write only: reads never lock

        lock = FileLock(self.path.parent / f".{self.path.name}.lock", thread_local=False)
        lock.acquire()
        self._flock = lock

    def _unlock_file(self) -> None:
        lock, self._flock = self._flock, None
        if lock is not None:
            lock.release()

    def _sweep(self) -> None:
        """Remove temporary tars of writers that died (we hold the lock: none is alive)."""
        for stale in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            if stale.is_file():
                with contextlib.suppress(OSError):
                    stale.unlink()

    def finish(self, final: dict[str, bytes], keep: Callable[[str], bool]) -> None:
        """Commit the open session (hold ``lock``)."""
        session, self.session = self.session, None
        self.state = None
        try:
            if session is not None:
                session.commit(final, keep)
                self._cached = None
        finally:
            self._unlock_file()

    def abort(self) -> None:
        session, self.session = self.session, None
        self.state = None
        try:
            if session is not None:
                session.abort()
        finally:
            self._unlock_file()

    @contextlib.contextmanager
    def batch(self, finish: Callable[[], None]) -> Iterator[None]:
        """Writes inside the block commit once, at its end; a block that raises discards them,
        so a failed copy leaves the old tar as it was (the one place a tar differs from the
        contract's "batch is not a transaction": a tar cannot be kept half-written)."""
        with self.lock:
            self._depth(+1)
        ok = False
        try:
            yield
            ok = True
        finally:
            with self.lock:
                if self._depth(-1) == 0 and self.session is not None:
                    if ok:
                        finish()
                    else:
                        self.abort()

    def _depth(self, change: int) -> int:
        self._batch_depth += change
        return self._batch_depth

    @property
    def batching(self) -> bool:
        return self._batch_depth > 0
