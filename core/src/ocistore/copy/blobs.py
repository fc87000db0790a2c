"""One blob from a source repository to a target: skip, mount, or stream.

The order is regclient's ``BlobCopy``: nothing to do inside one repository; nothing to do when
the target already has the blob; a cross-repository mount when both sides are one registry (and
a plain streamed copy if the mount is refused for any reason); otherwise ``blob_get`` streamed
straight into ``blob_put``. The bytes are never held in memory, and both ends verify them: the
source reader checks size and digest as it is drained, the target checks what it stored.

A transient failure anywhere in those steps starts them all again (:mod:`.retry`): the target
is asked again whether it has the blob (a failed answer may hide a stored blob), and a
fresh source reader streams into a fresh ``blob_put`` from byte 0.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal

from ocistore.copy.progress import PROGRESS_STEP, Emitter, TrackingReader
from ocistore.copy.retry import Retrier, RetryPolicy
from ocistore.errors import NotFoundError, OCIStoreError

if TYPE_CHECKING:
    from ocistore.digest import Digest
    from ocistore.ref import Ref
    from ocistore.scheme import Scheme

__all__ = ["BlobOutcome", "BlobTransfer"]

#: ``copied`` (bytes sent), ``mounted`` (linked at the target), ``skipped`` (already there).
BlobOutcome = Literal["copied", "mounted", "skipped"]


class BlobTransfer:
    """Copies blobs between two repositories; one object serves every blob of a copy."""

    def __init__(
        self,
        source_scheme: Scheme,
        source: Ref,
        target_scheme: Scheme,
        target: Ref,
        *,
        emitter: Emitter | None = None,
        cancelled: threading.Event | None = None,
        retrier: Retrier | None = None,
    ) -> None:
        self._src_scheme = source_scheme
        self._tgt_scheme = target_scheme
        self.source = source.bare()
        self.target = target.bare()
        self._emitter = emitter or Emitter(None)
        self._cancelled = cancelled
        self._retrier = retrier or Retrier(RetryPolicy(attempts=1), threading.Event())
        self.same_repository = self.source.same_repository(self.target)
        self.can_mount = (
            not self.same_repository
            and self.source.same_store(self.target)
            and target_scheme.info().blob_mount
        )

    def exists(self, digest: Digest) -> bool:
        """Whether the target has the blob; only "not found" means no, other errors propagate."""
        try:
            self._tgt_scheme.blob_head(self.target, digest)
        except NotFoundError:
            return False
        return True

    def copy(self, digest: Digest, size: int | None) -> tuple[BlobOutcome, int]:
        """Make ``digest`` present at the target; returns what was done and the bytes sent
        (by the attempt that succeeded)."""
        started = [False]  # whether ``blob-start`` was emitted: once per blob, not per attempt

        def on_retry(attempt: int, error: Exception) -> None:
            self._emitter.emit(
                "blob-retry",
                digest,
                self.target,
                size=size,
                detail=f"attempt {attempt} of {self._retrier.policy.attempts}: {error}",
            )

        return self._retrier.call(
            lambda: self._copy_once(digest, size, started),
            what=f"blob {self.source.with_digest(digest)}",
            on_retry=on_retry,
        )

    def _copy_once(
        self, digest: Digest, size: int | None, started: list[bool]
    ) -> tuple[BlobOutcome, int]:
        if self.same_repository:
            self._emitter.emit(
                "blob-skip", digest, self.target, size=size, detail="same-repository"
            )
            return "skipped", 0
        if self.exists(digest):
            self._emitter.emit("blob-skip", digest, self.target, size=size, detail="exists")
            return "skipped", 0
        if self.can_mount and self._mount(digest):
            self._emitter.emit("blob-skip", digest, self.target, size=size, detail="mounted")
            return "mounted", 0
        return "copied", self._stream(digest, size, started)

    def _mount(self, digest: Digest) -> bool:
        try:
            self._tgt_scheme.blob_mount(self.source, self.target, digest)
        except OCIStoreError:
            # A refused mount (other repository not readable, registry policy) is not a
            # failure: the blob can still be sent. Errors that matter will recur on upload.
            return False
        return True

    def _stream(self, digest: Digest, size: int | None, started: list[bool]) -> int:
        emitter, target = self._emitter, self.target
        if not started[0]:
            started[0] = True
            emitter.emit("blob-start", digest, target, size=size)
        last = [0]

        def on_bytes(sent: int) -> None:
            if sent - last[0] >= PROGRESS_STEP:
                last[0] = sent
                emitter.emit("blob-progress", digest, target, size=size, done=sent)

        with self._src_scheme.blob_get(self.source, digest, size=size) as reader:
            tracking = TrackingReader(reader, on_bytes=on_bytes, cancelled=self._cancelled)
            self._tgt_scheme.blob_put(target, digest, tracking, size)
            # The target may stop reading at the promised length; finish the source's own
            # size and digest check regardless.
            reader.verify_to_end()
        sent = tracking.sent
        emitter.emit("blob-done", digest, target, size=size, done=sent)
        return sent
