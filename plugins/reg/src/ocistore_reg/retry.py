"""When and how long to wait before trying a request again.

Registries fail transiently: a gateway answers 502 while a pod restarts, a rate limiter answers
429 with ``Retry-After``, a connection drops. Retrying helps only within bounds, so a
:class:`Backoff` counts attempts *and* watches a deadline, and every delay is jittered so that
many threads that failed together do not come back together.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RETRY_STATUSES", "Backoff", "RetryPolicy", "parse_retry_after"]

#: Statuses worth another attempt: timeout, rate limit, and server/gateway trouble.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    delay: float = 0.5
    max_delay: float = 10.0
    total: float = 120.0

    def start(self) -> Backoff:
        return Backoff(self)


class Backoff:
    """The retry state of one logical request (made per request: a plain class)."""

    __slots__ = ("attempt", "policy", "sleep", "started")

    def __init__(
        self,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        attempt: int = 0,
        started: float | None = None,
    ) -> None:
        self.policy = policy
        self.sleep = sleep
        self.attempt = attempt
        self.started = time.monotonic() if started is None else started

    def next_attempt(self) -> None:
        self.attempt += 1

    def wait(self, retry_after: float | None = None) -> bool:
        """Sleep before the next attempt; False when attempts or time are used up.

        ``retry_after`` (from the server) replaces the computed delay; a wait that would end
        past the deadline is not started at all, so the caller fails now instead of later.
        """
        if self.attempt >= self.policy.attempts:
            return False
        if retry_after is not None:
            delay = retry_after
        else:
            cap = min(self.policy.max_delay, self.policy.delay * (2 ** max(self.attempt - 1, 0)))
            delay = random.uniform(cap / 2, cap)
        remaining = self.policy.total - (time.monotonic() - self.started)
        if delay > remaining:
            return False
        if delay > 0:
            self.sleep(delay)
        return True
