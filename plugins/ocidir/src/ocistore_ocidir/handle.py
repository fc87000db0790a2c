"""Everything one scheme instance keeps per layout directory.

A handle ties together the layout's paths, its blob store, its index.json file and lock, and the
session (if one is open). It is the single place that decides how an index change is applied:
into the open session, or as a one-change locked session of its own. Its mutex serialises the
threads of this instance that change or read the session's view; other processes are kept out by
the file lock inside the session.

The session is the instance's, not a thread's: while any thread has a ``session()`` block open on
the layout, every thread's changes go into it (that is how the copy engine's worker threads join
its batch). Blocks are counted per thread: a thread's innermost blocks only nest, but when a
thread leaves its outermost block the session is flushed, so what that block did is on disk when
it ends even if another thread's block is still open; the last block to end closes the session.
``hold_lock`` blocks are counted too: the lock is held while at least one is open.
"""

from __future__ import annotations

import functools
import threading

from ocistore.digest import Digest
from ocistore_ocidir.blobs import BlobStore
from ocistore_ocidir.index import Index, IndexFile
from ocistore_ocidir.layout import INDEX_FILE, INDEX_LOCK, Layout
from ocistore_ocidir.locking import IndexLock
from ocistore_ocidir.ops import IndexOp, OpEnv
from ocistore_ocidir.referrers import FallbackIndexes
from ocistore_ocidir.session import IndexSession

__all__ = ["LayoutHandle"]


class LayoutHandle:
    """Per-layout state of one ``OCIDir`` instance."""

    def __init__(self, path: str) -> None:
        self.layout = Layout(path)
        self.blobs = BlobStore(self.layout)
        self.index_file = IndexFile(self.layout.index_file, f"{path}/{INDEX_FILE}")
        self.fallbacks = FallbackIndexes(self.blobs)
        self.env = OpEnv(path, self.blobs, self.fallbacks)
        self.mutex = threading.RLock()
        self._session: IndexSession | None = None
        self._depths: dict[int, int] = {}  # owner (thread id) -> open session blocks
        self._holds = 0  # open hold_lock blocks

    @functools.cached_property
    def lock(self) -> IndexLock:
        """The cross-process index lock, made on first acquire (reads never need it: index.json
        is only ever replaced whole, by rename)."""
        return IndexLock(self.layout.root / INDEX_LOCK)

    # -- reading ----------------------------------------------------------------------------------
    def view(self) -> Index:
        """The index as this instance sees it (including an open session's changes).

        Outside a session this is the shared cached parse: treat it as read-only.
        """
        with self.mutex:
            if self._session is not None:
                return self._session.fresh_view()
            return self.index_file.load()

    def deleted_in_session(self, digest: Digest) -> bool:
        with self.mutex:
            return self._session is not None and self._session.is_deleted(digest)

    @property
    def session(self) -> IndexSession | None:
        return self._session

    # -- writing ----------------------------------------------------------------------------------
    def ensure_index(self) -> None:
        """Give a new layout its (empty) index.json, under the lock so no index is clobbered."""
        if self.layout.index_file.is_file():
            return
        with self.mutex, self.lock:
            if not self.layout.index_file.is_file():
                self.index_file.write_raw(Index.empty().to_bytes())

    def apply(self, *ops: IndexOp) -> None:
        """Apply ``ops`` in the open session, or in a locked session of their own."""
        with self.mutex:
            if self._session is not None:
                for op in ops:
                    self._session.apply(op)
                return
            single = self._new_session(hold_lock=True)
            try:
                for op in ops:
                    single.apply(op)
            finally:
                single.close()

    def stored_again(self, digest: Digest) -> None:
        """A blob deleted earlier in the open session is being stored again: do not unlink it.

        Call it *before* storing: a flush between the store (which finds the file still there
        and writes nothing) and this call would unlink the blob the store just counted on.
        """
        with self.mutex:
            if self._session is not None:
                self._session.forget_delete(digest)

    def _new_session(self, *, hold_lock: bool) -> IndexSession:
        return IndexSession(
            self.index_file, self.lock, self.env, hold_lock=hold_lock, mutex=self.mutex
        )

    def open_session(self, owner: int, *, hold_lock: bool = False) -> IndexSession:
        """Open (or join) this instance's session on the layout for one block of ``owner``
        (the thread opening it); see :meth:`close_session`."""
        with self.mutex:
            session = self._session
            if session is None:
                session = self._new_session(hold_lock=hold_lock)
            elif hold_lock:
                session.hold()
            self._session = session
            self._depths[owner] = self._depths.get(owner, 0) + 1
            self._holds += hold_lock
            return session

    def close_session(self, owner: int, *, hold_lock: bool = False) -> None:
        """Leave a block opened by :meth:`open_session` with the same arguments.

        The last block to end flushes the session and lets go of the lock; a thread leaving its
        outermost block flushes (its changes must not wait for another thread's block); the
        last ``hold_lock`` block to end flushes and lets go of the lock.

        A session batches writes, it is not a transaction: callers close it even when their
        block raised, so changes whose calls returned are kept, just as without a session.
        """
        with self.mutex:
            session = self._session
            depth = self._depths.get(owner, 0)
            if session is None or depth == 0:
                raise RuntimeError("no open session")
            if depth > 1:
                self._depths[owner] = depth - 1
            else:
                del self._depths[owner]
            self._holds -= hold_lock
            if not self._depths:
                self._session = None
                session.close()
            elif self._holds == 0 and session.held:
                session.unhold()
            elif depth == 1:
                session.flush()
