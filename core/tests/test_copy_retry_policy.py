"""The retry policy on its own: which errors are transient, pauses, counting, cancellation."""

from __future__ import annotations

import threading

import pytest

from ocistore.copy.progress import CopyCancelledError
from ocistore.copy.retry import MAX_DELAY, Retrier, RetryPolicy, is_transient
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ForbiddenError,
    LayoutError,
    ManifestInvalidError,
    RateLimitError,
    RegistryError,
    ShortReadError,
    SizeLimitExceededError,
    StorageError,
    TransportError,
    UnauthorizedError,
    UnsupportedError,
    UploadSessionError,
)

TRANSIENT = [
    TransportError("connection reset by peer"),
    RegistryError("request timeout", status=408),
    RegistryError("too many requests", status=429),
    RateLimitError("still 429 after retries", status=429),
    RegistryError("internal error", status=500),
    RegistryError("bad gateway", status=502),
    RegistryError("unavailable", status=503),
    RegistryError("gateway timeout", status=504),
    ShortReadError("stream ended after 10 of 20 bytes", remote=True),
    DigestMismatchError("a byte flipped on the way", remote=True),
    SizeLimitExceededError("a longer answer than the descriptor says", remote=True),
    UploadSessionError("BLOB_UPLOAD_UNKNOWN", status=404, codes=("BLOB_UPLOAD_UNKNOWN",)),
    UploadSessionError("BLOB_UPLOAD_INVALID", status=400, codes=("BLOB_UPLOAD_INVALID",)),
]
FINAL = [
    DigestMismatchError("a local file hashes to something else"),
    SizeLimitExceededError("a local file is longer than expected"),
    ShortReadError("a local file is shorter than expected"),
    UnauthorizedError("who are you"),
    ForbiddenError("not you"),
    BlobNotFoundError("no such blob"),
    RegistryError("bad request", status=400),
    RegistryError("not found", status=404),
    RegistryError("not implemented", status=501),
    RegistryError("no status: the registry sent no Location"),
    UnsupportedError("cannot do that"),
    StorageError("disk full"),
    LayoutError("malformed layout"),
    ManifestInvalidError("not JSON"),
    CopyCancelledError("a sibling failed"),
    RuntimeError("a bug"),
]


def error_id(error: Exception) -> str:
    status = getattr(error, "status", None)
    return type(error).__name__ + (f"-{status}" if status else "")


# -- the policy ----------------------------------------------------------------------------------
@pytest.mark.parametrize("error", TRANSIENT, ids=error_id)
def test_transient_errors_are_the_ones_worth_another_attempt(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", FINAL, ids=error_id)
def test_verification_auth_not_found_and_local_errors_are_final(error: Exception) -> None:
    assert not is_transient(error)


def test_pauses_double_with_jitter_and_are_capped() -> None:
    policy = RetryPolicy(attempts=10, delay=0.5)
    for retry, cap in ((1, 0.5), (2, 1.0), (3, 2.0)):
        pauses = [policy.pause(retry) for _ in range(50)]
        assert all(cap / 2 <= p <= cap for p in pauses)
    assert all(p <= MAX_DELAY for p in (policy.pause(30) for _ in range(50)))
    assert RetryPolicy(delay=0).pause(1) == 0


def test_a_server_asked_pause_is_a_floor_capped_at_the_maximum() -> None:
    fast = RetryPolicy(attempts=5, delay=0)
    assert fast.pause(1, RateLimitError("429", status=429, retry_after=3)) == 3
    assert fast.pause(1, RegistryError("503", status=503, retry_after=2.5)) == 2.5
    assert fast.pause(1, RateLimitError("429", status=429, retry_after=3600)) == MAX_DELAY
    assert fast.pause(1, RateLimitError("429", status=429)) == 0
    assert fast.pause(1, TransportError("reset")) == 0
    # A longer computed pause is kept: the server's figure is a minimum, not a replacement.
    slow = RetryPolicy(attempts=5, delay=4)
    assert all(
        4 <= slow.pause(2, RegistryError("503", status=503, retry_after=1)) <= MAX_DELAY
        for _ in range(50)
    )


def test_retry_after_is_optional_and_kept_on_registry_errors() -> None:
    assert RegistryError("x", status=500).retry_after is None
    error = RateLimitError("x", status=429, codes=("TOOMANYREQUESTS",), retry_after=7.0)
    assert (error.status, error.codes, error.retry_after) == (429, ("TOOMANYREQUESTS",), 7.0)


class RecordingEvent(threading.Event):
    """A cancellation event whose waits return at once and are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_the_retrier_waits_at_least_what_the_server_asked_for() -> None:
    event = RecordingEvent()
    retrier = Retrier(RetryPolicy(attempts=4, delay=0), event)
    errors = [
        RateLimitError("429", status=429, retry_after=1.5),
        RegistryError("503", status=503, retry_after=30),
        RegistryError("502", status=502),
    ]

    def step() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    assert retrier.call(step, what="x") == "ok"
    assert event.waits == [1.5, MAX_DELAY, 0]


def test_the_retrier_counts_restarts_and_notes_the_attempts_on_the_final_error() -> None:
    retrier = Retrier(RetryPolicy(attempts=3, delay=0), threading.Event())
    calls: list[int] = []
    seen: list[int] = []

    def step() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransportError("reset")
        return "ok"

    assert retrier.call(step, what="x", on_retry=lambda n, e: seen.append(n)) == "ok"
    assert (len(calls), retrier.retries, seen) == (3, 2, [2, 3])

    def always() -> None:
        raise RegistryError("unavailable", status=503)

    with pytest.raises(RegistryError) as info:
        retrier.call(always, what="y")
    assert info.value.__notes__ == ["gave up after 3 attempts"]
    assert retrier.retries == 4


def test_nothing_is_retried_once_the_copy_is_cancelled() -> None:
    cancelled = threading.Event()
    retrier = Retrier(RetryPolicy(attempts=5, delay=0), cancelled)
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        cancelled.set()
        raise TransportError("reset while the copy was being cancelled")

    with pytest.raises(TransportError):
        retrier.call(step, what="x")
    assert (len(calls), retrier.retries) == (1, 0)


def _calls_until_given_up(error: Exception, attempts: int = 4) -> int:
    calls = [0]

    def step() -> None:
        calls[0] += 1
        raise error

    with pytest.raises(type(error)):
        Retrier(RetryPolicy(attempts=attempts, delay=0), threading.Event()).call(step, what="x")
    return calls[0]


def test_the_same_remote_finding_twice_ends_the_step() -> None:
    """The same wrong digest again: the source holds those bytes."""
    error = DigestMismatchError("got sha256:bad", remote=True, found="sha256:bad")
    assert _calls_until_given_up(error) == 2
    assert "the same mismatch twice" in "; ".join(error.__notes__)


def test_different_remote_findings_are_retried_while_attempts_last() -> None:
    findings = iter(range(10))
    calls = [0]

    def step() -> None:
        calls[0] += 1
        raise DigestMismatchError("flipped", remote=True, found=f"sha256:{next(findings)}")

    with pytest.raises(DigestMismatchError):
        Retrier(RetryPolicy(attempts=4, delay=0), threading.Event()).call(step, what="x")
    assert calls[0] == 4


def test_a_remote_mismatch_that_names_no_finding_is_retried_while_attempts_last() -> None:
    """A registry's bare DIGEST_INVALID cannot tell one wrong upload from another."""
    assert _calls_until_given_up(DigestMismatchError("DIGEST_INVALID", remote=True)) == 4


def test_a_local_mismatch_is_tried_once() -> None:
    assert _calls_until_given_up(DigestMismatchError("bad file", found="sha256:bad")) == 1
