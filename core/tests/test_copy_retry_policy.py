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
    ShortReadError("stream ended after 10 of 20 bytes"),
]
FINAL = [
    DigestMismatchError("hashes to something else"),
    SizeLimitExceededError("more than the expected bytes"),
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
