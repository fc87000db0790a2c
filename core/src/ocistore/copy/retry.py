"""Bounded retries of one copy step after a transient failure.

A copy crosses many requests, and a registry that answers one of them with a 503 or drops one
connection should not cost the whole copy. Schemes retry what they can replay themselves (the
``reg`` plugin resends HEADs, GETs and manifest PUTs, and resumes cut downloads), but a blob
upload streams from the source and cannot be replayed by the scheme that sends it: only the
engine can start that blob again, with a fresh ``blob_get`` feeding a fresh ``blob_put``.

So each step of a copy (one blob from HEAD to stored, one manifest read, one manifest push to
one reference) runs under :meth:`Retrier.call`, which repeats the whole step when it failed
transiently, up to ``CopyOptions.attempts`` times, with a jittered doubling pause. Restarting
the step rather than the request keeps the rule scheme-agnostic and the bytes verified: every
attempt streams through the source's verifying reader and the target's check from byte 0, and
re-checks first whether an earlier attempt landed after all.

What is transient (:func:`is_transient`):

* :class:`~ocistore.errors.TransportError`: a refused, reset or timed-out connection;
* :class:`~ocistore.errors.RegistryError` with status 408, 429 or 5xx (not 501 "not implemented"
  or 505 "HTTP version not supported", which another attempt will not change);
* :class:`~ocistore.errors.ShortReadError`: a source stream that ended early (a cut download).

A server that said when to come back (``Retry-After`` on a 429 or 503, carried as
:attr:`RegistryError.retry_after <ocistore.errors.RegistryError>`) gets at least that pause,
still capped at :data:`MAX_DELAY`: the scheme has usually waited as asked already, and a copy
should not sleep for minutes on one answer.

Everything else is final: a digest or size mismatch (the content is wrong, sending it again
gives the same bytes), authentication, "not found", unsupported operations, local storage
errors, invalid manifests. Nothing is retried once the copy is cancelled (a sibling failed), and
a cancellation during the pause ends the pause at once.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ocistore.copy.progress import CopyCancelledError
from ocistore.errors import RegistryError, ShortReadError, TransportError

__all__ = ["MAX_DELAY", "Retrier", "RetryPolicy", "is_transient"]

log = logging.getLogger("ocistore.copy")

T = TypeVar("T")

#: Cap on one pause, in seconds, however many attempts are configured.
MAX_DELAY = 8.0
# 5xx answers that describe the server's abilities, not its health.
_FINAL_5XX = frozenset({501, 505})


def is_transient(error: BaseException) -> bool:
    """Whether another attempt at the same step may succeed (see the module docstring)."""
    if isinstance(error, CopyCancelledError):
        return False
    if isinstance(error, TransportError | ShortReadError):
        return True
    if isinstance(error, RegistryError) and error.status is not None:
        status = error.status
        return status in (408, 429) or (500 <= status < 600 and status not in _FINAL_5XX)
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` per step, the first included; ``delay`` is the first pause in seconds,
    doubled for each further one (capped at :data:`MAX_DELAY`) and jittered to half-to-all of
    it, so that transfers that failed together do not return together."""

    attempts: int = 3
    delay: float = 0.5

    def pause(self, retry: int, error: BaseException | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the second attempt).

        When ``error`` carries the server's ``retry_after``, the pause is at least that long,
        though never longer than :data:`MAX_DELAY`.
        """
        cap = min(MAX_DELAY, self.delay * 2 ** (retry - 1))
        pause = random.uniform(cap / 2, cap)
        asked = error.retry_after if isinstance(error, RegistryError) else None
        if asked is not None and asked > pause:
            pause = min(asked, MAX_DELAY)
        return pause


class Retrier:
    """Runs steps under one :class:`RetryPolicy` and counts the retries of a whole copy.

    Safe to share between the copy's worker threads.
    """

    def __init__(self, policy: RetryPolicy, cancelled: threading.Event) -> None:
        self.policy = policy
        self._cancelled = cancelled
        self._lock = threading.Lock()
        self._retries = 0

    @property
    def retries(self) -> int:
        """Steps started again so far, over every thread."""
        with self._lock:
            return self._retries

    def call(
        self,
        step: Callable[[], T],
        *,
        what: str,
        on_retry: Callable[[int, Exception], None] | None = None,
    ) -> T:
        """``step()``, run again after a transient failure while attempts remain.

        ``what`` names the step in the log. ``on_retry(attempt, error)`` runs before attempt
        number ``attempt`` (2 or more), after the pause. The error that ends the step is raised
        unchanged, with a note (``add_note``) saying how many attempts it took when there was
        more than one.
        """
        attempt = 1
        while True:
            try:
                return step()
            except Exception as error:
                final = (
                    attempt >= self.policy.attempts
                    or not is_transient(error)
                    or self._cancelled.is_set()
                )
                # ``wait`` returns True when the copy was cancelled during the pause.
                if final or self._cancelled.wait(self.policy.pause(attempt, error)):
                    if attempt > 1:
                        error.add_note(f"gave up after {attempt} attempts")
                    raise
                attempt += 1
                with self._lock:
                    self._retries += 1
                log.info(
                    "%s: attempt %d of %d after a transient failure: %s",
                    what,
                    attempt,
                    self.policy.attempts,
                    error,
                )
                if on_retry is not None:
                    on_retry(attempt, error)
