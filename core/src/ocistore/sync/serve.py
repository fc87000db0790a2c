"""``sync serve``: run each entry on its own interval until told to stop.

Every entry is due at start; after a run, each entry that ran is due again ``interval``
seconds later (from the end of that run, so a slow run never piles up behind itself). One
:class:`~ocistore.sync.engine.Sync` serves every round, so connections and per-host state
last. ``stop`` (set by SIGTERM or SIGINT in the command line) ends the wait at once; a round
in progress starts no new unit and finishes those already running, so nothing is left
half-copied (and a copy cut short would resume on the next run anyway).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocistore.sync.engine import Sync
    from ocistore.sync.report import SyncReport

__all__ = ["serve"]


def serve(
    sync: Sync,
    stop: threading.Event,
    *,
    on_report: Callable[[SyncReport], None],
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Run rounds until ``stop`` is set; returns the number of rounds run."""
    due = {e.index: clock() for e in sync.config.entries}
    interval = {e.index: e.interval for e in sync.config.entries}
    rounds = 0
    while not stop.is_set():
        now = clock()
        ready = sorted(i for i, when in due.items() if when <= now)
        if ready:
            report = sync.run(only=ready, stop=stop)
            rounds += 1
            on_report(report)
            finished = clock()
            for i in ready:
                due[i] = finished + interval[i]
            continue
        stop.wait(max(0.0, min(due.values()) - now))
    return rounds
