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
* :class:`~ocistore.errors.UploadSessionError`: the registry lost or refused the upload
  session (after a reset, say); a new session fed from byte 0 may succeed;
* :class:`~ocistore.errors.RegistryError` with status 408, 429 or 5xx (not 501 "not implemented"
  or 505 "HTTP version not supported", which another attempt will not change);
* a :class:`~ocistore.errors.VerificationError` (digest or size mismatch, a stream that ended
  early) whose ``remote`` flag says the bytes crossed a network: a flipped byte or a cut body
  on the way from a registry (or to it: the registry said the upload did not match) need not
  recur, so the step reads the blob again from byte 0, through a fresh verifying reader.

A server that said when to come back (``Retry-After`` on a 429 or 503, carried as
:attr:`RegistryError.retry_after <ocistore.errors.RegistryError>`) gets at least that pause,
still capped at :data:`MAX_DELAY`: the scheme has usually waited as asked already, and a copy
should not sleep for minutes on one answer.

Everything else is final: a mismatch read from local storage (a damaged file reads the same
every time; the error names it), authentication, "not found", unsupported operations, local
storage errors, invalid manifests. A *remote* mismatch that repeats within one step (the same
wrong digest or size, :attr:`VerificationError.found <ocistore.errors.VerificationError>`,
twice) is final too: then the source itself holds those bytes, and more attempts would only
fetch them again. Nothing is retried once the copy
is cancelled (a sibling failed), and a cancellation during the pause ends the pause at once.

Why the flag lives on the error rather than in the scheme's declared capabilities
(:class:`~ocistore.scheme.SchemeInfo`): a blob step involves two schemes, and the source's
mismatch surfaces from inside the *target's* ``blob_put`` (which drains the source reader), so
the engine cannot tell from the call which side's bytes were judged; and one scheme may serve
some reads from a network and some from a local cache. The reader that judged the bytes knows
where they came from, so the error it raises says so.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ocistore.copy.progress import CopyCancelledError
from ocistore.errors import (
    RegistryError,
    TransportError,
    UploadSessionError,
    VerificationError,
)

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
    if isinstance(error, TransportError | UploadSessionError):
        return True
    if isinstance(error, VerificationError):
        return error.remote
    if isinstance(error, RegistryError) and error.status is not None:
        status = error.status
        return status in (408, 429) or (500 <= status < 600 and status not in _FINAL_5XX)
    return False


def _repeats(error: BaseException, seen: set[str]) -> bool:
    """Whether ``error`` is a verification failure this step already had (and remember it).

    Only a failure that says what the bytes were (``found``: their digest or length) can
    repeat: a registry's bare "digest invalid" says nothing about which wrong bytes it got.
    """
    if not isinstance(error, VerificationError) or error.found is None:
        return False
    key = f"{type(error).__name__}: {error.found}"
    if key in seen:
        return True
    seen.add(key)
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
        mismatches: set[str] = set()  # the verification failures seen by this step
        while True:
            try:
                return step()
            except Exception as error:
                repeated = _repeats(error, mismatches)
                final = (
                    attempt >= self.policy.attempts
                    or not is_transient(error)
                    or repeated
                    or self._cancelled.is_set()
                )
                if repeated:
                    error.add_note("the same mismatch twice: the source holds these bytes")
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
