"""Index sessions: many index.json changes, one locked write.

Without batching, every tagged push reads, changes and rewrites the whole index.json under the
lock: N pushes write N files of growing size, O(N^2) bytes. A session instead applies changes to
an in-memory view (an :class:`~ocistore_ocidir.index.Index`, whose lookups are dictionaries, so
each change is O(1)) and remembers them as :mod:`~ocistore_ocidir.ops` records. ``flush`` then
takes the cross-process lock once and writes once:

* if index.json is byte-for-byte what the session started from, the view is written as is;
* otherwise another process changed it meanwhile, and the recorded operations are replayed onto
  the fresh version, so neither side's changes are lost (optimistic concurrency).

Two modes: *optimistic* (the default for explicit sessions) holds no lock until ``flush``, so a
long copy does not block other writers; *locked* (``hold_lock=True``, and what every single
unbatched change uses) takes the lock at the start, so its view is authoritative and ``flush``
needs no re-read. An optimistic session can take the lock later (:meth:`IndexSession.hold`) and
give it back (:meth:`IndexSession.unhold`).

Reads in an optimistic session (:meth:`IndexSession.fresh_view`) see what other writers did
meanwhile: when index.json changed, the view is rebuilt from it by the same replay. Otherwise a
decision taken on a stale view ("the tag is there already, skip the push") would outlive a
deletion that happened before it, and the flush has nothing to replay for a push never made.

Manifest deletions remove the blob only after the index no longer names it, and only if the
fresh index (after replay) does not name it either.

Threads share a session (see :class:`~ocistore_ocidir.handle.LayoutHandle`); ``mutex``, the
handle's own, serialises them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ocistore.digest import Digest
from ocistore_ocidir.fsutil import fsync_dir
from ocistore_ocidir.index import Index, IndexFile
from ocistore_ocidir.ops import IndexOp, OpEnv, PutManifest, RemoveManifest

if TYPE_CHECKING:
    from ocistore_ocidir.locking import IndexLock

__all__ = ["IndexSession"]


class IndexSession:
    """A batch of index.json changes against one layout."""

    def __init__(
        self,
        file: IndexFile,
        lock: IndexLock,
        env: OpEnv,
        *,
        hold_lock: bool = False,
        mutex: threading.RLock | None = None,
    ) -> None:
        self._mutex = mutex if mutex is not None else threading.RLock()
        self._file = file
        self._lock = lock
        self._env = env
        self._hold = hold_lock
        self._held = False
        self._view: Index | None = None
        self._base: bytes | None = None
        self._ops: list[IndexOp] = []
        self._unlink: dict[Digest, None] = {}
        self.flushes = 0
        if hold_lock:
            self._lock.acquire()
            self._held = True

    @property
    def pending(self) -> int:
        """Changes applied to the view and not yet written."""
        return len(self._ops)

    @property
    def held(self) -> bool:
        """Whether this session holds the cross-process lock now."""
        return self._held

    def view(self) -> Index:
        """The index as this session sees it: the file when first asked, plus own changes.

        What changes go to; reads want :meth:`fresh_view`.
        """
        with self._mutex:
            if self._view is None:
                self._base = self._file.read_raw()
                self._view = self._file.parse(self._base)
            return self._view

    def fresh_view(self) -> Index:
        """The view for reading: rebuilt first if another writer changed index.json."""
        with self._mutex:
            if self._view is None or self._held:
                return self.view()
            raw = self._file.snapshot().raw
            if raw is self._base:
                return self._view
            if raw == self._base:
                self._base = raw  # the same bytes: identity answers next time
                return self._view
            return self._rebase(raw)

    def _rebase(self, raw: bytes | None) -> Index:
        """Make the view ``raw`` plus this session's recorded changes (if ``raw`` is new)."""
        if raw == self._base and self._view is not None:
            return self._view
        target = self._file.parse(raw)
        for op in self._ops:
            op.apply(target, self._env, replay=True)
        self._base = raw
        self._view = target
        return target

    def is_deleted(self, digest: Digest) -> bool:
        """Whether this session deleted the manifest (its blob lingers until the flush)."""
        with self._mutex:
            return digest in self._unlink

    def apply(self, op: IndexOp) -> None:
        """Apply ``op`` to the view now (errors surface here) and record it for the flush."""
        with self._mutex:
            op.apply(self.view(), self._env, replay=False)
            self._ops.append(op)
            if isinstance(op, RemoveManifest):
                self._unlink[op.digest] = None
            elif isinstance(op, PutManifest):
                self._unlink.pop(op.digest, None)

    def forget_delete(self, digest: Digest) -> None:
        """A manifest was stored again (as a child): keep its blob after all."""
        with self._mutex:
            self._unlink.pop(digest, None)

    def flush(self) -> None:
        """Write the recorded changes (if any) with one locked write of index.json."""
        with self._mutex:
            if not self._ops:
                return
            if not self._held:
                with self._lock:
                    self._write()
            else:
                self._write()

    def _write(self) -> None:
        self.view()
        current = self._base if self._held else self._file.read_raw()
        target = self._rebase(current)  # changed by another writer: replayed onto theirs
        raw = target.to_bytes()
        if raw != current:
            self._file.write_raw(raw)
        self._base = raw
        self._ops.clear()
        self.flushes += 1
        self._remove_deleted(target)

    def hold(self) -> None:
        """Take the cross-process lock for the rest of the session (or until :meth:`unhold`).

        The view may predate the lock, so it is rebuilt on the current index.json first: from
        now on it is authoritative.
        """
        with self._mutex:
            if self._held:
                return
            self._lock.acquire()
            self._held = True
            if self._view is not None:
                try:
                    self._rebase(self._file.read_raw())
                except BaseException:
                    self._held = False
                    self._lock.release()
                    raise

    def unhold(self) -> None:
        """Write the recorded changes and let go of the lock; the session goes on optimistic."""
        with self._mutex:
            if not self._held:
                return
            try:
                self.flush()
            finally:
                self._held = False
                self._lock.release()

    def _remove_deleted(self, index: Index) -> None:
        touched = set()
        for digest in self._unlink:
            if index.has_digest(digest):
                continue
            path = self._env.blobs.layout.blob_path(digest)
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            touched.add(path.parent)
        for directory in touched:
            fsync_dir(directory)
        self._unlink.clear()

    def close(self) -> None:
        """Flush, then let go of the lock if this session held it."""
        with self._mutex:
            try:
                self.flush()
            finally:
                if self._held:
                    self._held = False
                    self._lock.release()
