"""Progress bars for copies: per-blob bars plus a total, only when stderr is a terminal.

``rich`` is imported only when bars are actually shown, so piped and scripted runs (and
``--help``) never pay for it. The copy engine calls the callback from worker threads; a lock keeps
the bookkeeping consistent, rich itself redraws from its own thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ocistore.copy import ProgressEvent

__all__ = ["ProgressCallback", "progress_bars"]

ProgressCallback = Callable[["ProgressEvent"], None]


def _short(digest: object) -> str:
    text = str(digest)
    alg, _, hexpart = text.partition(":")
    return f"{alg}:{hexpart[:12]}" if hexpart else text


class _Bars:
    """Turns :class:`ProgressEvent` s into rich tasks."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskID,
            TextColumn,
            TransferSpeedColumn,
        )

        self._lock = threading.Lock()
        self.progress = Progress(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=Console(file=stream),
        )
        self._total: TaskID = self.progress.add_task("total", total=0)
        self._total_size = 0
        self._tasks: dict[str, tuple[TaskID, int]] = {}

    def _grow_total(self, size: int) -> None:
        self._total_size += size
        self.progress.update(self._total, total=self._total_size)

    def __call__(self, event: ProgressEvent) -> None:
        kind: str = event.kind
        key = str(event.digest)
        size: int = event.size or 0
        with self._lock:
            if kind == "blob-start":
                task = self.progress.add_task(_short(event.digest), total=size or None)
                self._tasks[key] = (task, 0)
                self._grow_total(size)
            elif kind == "blob-progress" and key in self._tasks:
                task, done = self._tasks[key]
                now: int = event.done_bytes or 0
                self.progress.update(task, completed=now)
                self.progress.advance(self._total, max(0, now - done))
                self._tasks[key] = (task, now)
            elif kind == "blob-done" and key in self._tasks:
                task, done = self._tasks.pop(key)
                self.progress.advance(self._total, max(0, size - done))
                self.progress.remove_task(task)
            elif kind == "blob-retry" and key in self._tasks:
                # the transfer starts again from byte 0: take back what this bar counted
                task, done = self._tasks[key]
                self.progress.update(task, completed=0)
                self.progress.advance(self._total, -done)
                self._tasks[key] = (task, 0)
            elif kind == "blob-skip":
                if key in self._tasks:  # started, then found at the target after a retry
                    task, done = self._tasks.pop(key)
                    self.progress.remove_task(task)
                    self.progress.advance(self._total, size - done)
                    return
                self._grow_total(size)
                self.progress.advance(self._total, size)
            elif kind == "manifest":
                detail = getattr(event, "detail", "") or "pushed"
                self.progress.console.print(
                    f"manifest {_short(event.digest)} {detail}: {event.ref}",
                    highlight=False,
                    markup=False,
                )


@contextlib.contextmanager
def progress_bars(stream: TextIO, *, enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """Yield a progress callback when ``stream`` is a terminal (and ``enabled``), else ``None``."""
    isatty: Any = getattr(stream, "isatty", None)
    if not enabled or not callable(isatty) or not isatty():
        yield None
        return
    bars = _Bars(stream)
    with bars.progress:
        yield bars
