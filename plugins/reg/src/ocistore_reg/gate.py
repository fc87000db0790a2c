"""What every request to one host waits for: a free slot, and the end of a host-wide pause.

One :class:`~ocistore_reg.http.Transport` per host is shared by everything a client does, so
this is where limits that concern the *host* (not one request) live:

* **a request limit** (``HostConfig.max_requests``): at most that many requests in flight at
  once, whatever number of copies run in parallel. A slot is held while the request is sent
  and its answer's headers arrive (an upload's body included); a thread that already holds one
  does not wait for a second (a blob streamed from this host back to it), so nesting cannot
  deadlock.
* **a pause** after a 429: the registry said "too many requests" to one of them, and every
  other request to that host waits out the same ``Retry-After`` instead of hammering on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["HostGate"]


class HostGate:
    """Slots and pauses of one host; safe to share between threads.

    :param limit: requests in flight at once (None: unlimited).
    """

    def __init__(self, limit: int | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit) if limit else None
        self._held = threading.local()
        self._clock = clock
        self._lock = threading.Lock()
        self._until = 0.0
        #: Highest number of slots taken at once (tests and reports read it).
        self.peak = 0
        self._busy = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one request slot (re-entrant per thread)."""
        depth: int = getattr(self._held, "depth", 0)
        take = self._slots is not None and depth == 0
        if take:
            assert self._slots is not None
            self._slots.acquire()
        self._held.depth = depth + 1
        with self._lock:
            self._busy += take
            self.peak = max(self.peak, self._busy)
        try:
            yield
        finally:
            self._held.depth = depth
            if take:
                assert self._slots is not None
                with self._lock:
                    self._busy -= 1
                self._slots.release()

    def pause(self, seconds: float) -> None:
        """Hold every request to this host back for ``seconds`` from now (never shortens).

        The calling thread got the 429 and waits out its own ``Retry-After`` in its retry
        loop, so :meth:`wait` does not make it wait a second time for the same pause.
        """
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)
            self._held.own = self._until

    def remaining(self) -> float:
        """Seconds left of the current pause (0 when there is none)."""
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait(self, sleep: Callable[[float], None]) -> None:
        """Sleep until no pause is in force; a pause set meanwhile is waited out too, each
        pause once (so a ``sleep`` that does not advance the clock cannot spin)."""
        waited: float | None = getattr(self._held, "own", None)
        while True:
            with self._lock:
                until = self._until
                left = until - self._clock()
            if left <= 0 or until == waited:
                return
            sleep(left)
            waited = until
