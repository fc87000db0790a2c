"""Progress reporting for copies: events, and the plumbing that delivers them.

The engine never prints. It calls a :data:`ProgressCallback` with :class:`ProgressEvent` values,
and the command line turns those into ``rich`` progress bars. Events come from worker threads, so
:class:`Emitter` serialises the calls: a callback never has to be thread-safe.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ocistore.errors import OCIStoreError

if TYPE_CHECKING:
    from ocistore.blob import BlobReader
    from ocistore.digest import Digest
    from ocistore.ref import Ref

__all__ = ["CopyCancelledError", "Emitter", "ProgressCallback", "ProgressEvent", "ProgressKind"]

ProgressKind = Literal[
    "blob-start", "blob-progress", "blob-done", "blob-skip", "blob-retry", "manifest"
]

#: Bytes between two ``blob-progress`` events: frequent enough for a smooth bar, rare enough
#: that a multi-gigabyte layer does not turn into a million callback calls.
PROGRESS_STEP = 512 * 1024


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a copy.

    * ``blob-start``: a blob transfer begins (``size`` is the expected size, if known);
    * ``blob-progress``: ``done_bytes`` of the blob have been sent;
    * ``blob-done``: the blob is stored at the target (``done_bytes`` bytes were sent);
    * ``blob-skip``: nothing was sent; ``detail`` says why (``exists``, ``mounted``,
      ``same-repository``, ``external``);
    * ``blob-retry``: an attempt at the blob failed transiently and the blob starts again from
      byte 0 (``done_bytes`` is 0); ``detail`` reads ``attempt 2 of 3: <the error>``. The blob's
      progress resets: later ``blob-progress`` events count from 0 again, no second
      ``blob-start`` follows, and the blob still ends with one ``blob-done`` or ``blob-skip``
      (``exists`` when the failed attempt had stored it after all);
    * ``manifest``: a manifest was pushed to ``ref`` (``detail`` is ``pushed`` or ``exists``).

    ``ref`` is the target reference the event concerns.
    """

    kind: ProgressKind
    digest: Digest
    size: int | None
    done_bytes: int
    ref: Ref
    detail: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


class Emitter:
    """Calls the user's callback one event at a time, from whichever thread has news."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._callback is not None

    def emit(
        self,
        kind: ProgressKind,
        digest: Digest,
        ref: Ref,
        *,
        size: int | None = None,
        done: int = 0,
        detail: str = "",
    ) -> None:
        if self._callback is None:
            return
        event = ProgressEvent(kind, digest, size, done, ref, detail)
        with self._lock:
            self._callback(event)


class CopyCancelledError(OCIStoreError):
    """A transfer stopped because a sibling failed; never the error a caller sees."""


class TrackingReader(io.RawIOBase):
    """Wraps a source blob for ``blob_put``: reports progress and aborts when cancelled.

    Cancellation is checked on every read, so a large transfer stops within one chunk of a
    sibling's failure instead of running to completion for nothing.

    It is deliberately not seekable (``seekable()`` is False): a scheme must not expect to send
    these bytes twice. When an upload fails transiently, the engine starts the whole blob again
    with a fresh source reader and a fresh ``blob_put`` (:mod:`ocistore.copy.retry`).
    """

    def __init__(
        self,
        source: BlobReader,
        *,
        on_bytes: Callable[[int], None],
        cancelled: threading.Event | None,
    ) -> None:
        super().__init__()
        self._source = source
        self._on_bytes = on_bytes
        self._cancelled = cancelled
        self.sent = 0

    def readable(self) -> bool:
        return True

    @property
    def enforced_digest(self) -> Digest | None:
        """The source's: reading to the end verifies it (see ``BlobReader``)."""
        return self._source.enforced_digest

    def read(self, size: int | None = -1) -> bytes:
        if self._cancelled is not None and self._cancelled.is_set():
            raise CopyCancelledError("copy cancelled because another transfer failed")
        data = self._source.read(-1 if size is None else size)
        if data:
            self.sent += len(data)
            self._on_bytes(self.sent)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(1024 * 1024):
            chunks.append(chunk)
        return b"".join(chunks)
