"""Where results go: human text by default, ``--format json`` for scripts, raw bytes for bodies.

Data goes to stdout and nothing else does; progress and notes go to stderr, so
``ocistore manifest get REF > m.json`` or ``... --format json | jq`` always see clean output.
``json`` is imported when something is rendered as JSON (``--help`` and text output never are).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import IO, Any, TextIO

__all__ = ["Output", "human_size", "table"]

FORMATS = ("text", "json")


class Output:
    """Writes results in the format the user chose (``None``: the verb's own default)."""

    def __init__(
        self,
        fmt: str | None,
        *,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.format = fmt
        self._stdout = stdout
        self._stderr = stderr

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr or sys.stderr

    @property
    def json(self) -> bool:
        return self.format == "json"

    def binary(self) -> IO[bytes]:
        """Stdout as bytes, for raw manifests and blobs."""
        self.stdout.flush()
        return self.stdout.buffer

    def data(self, obj: Any, text: str | Callable[[], str] | None = None) -> None:
        """Print ``obj`` as JSON under ``--format json``, else ``text`` (or ``obj`` itself)."""
        if self.json:
            import json

            self.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
        else:
            rendered = text() if callable(text) else text
            if rendered is None:
                import json

                rendered = obj if isinstance(obj, str) else json.dumps(obj, indent=2, default=str)
            if rendered:
                self.stdout.write(rendered.rstrip("\n") + "\n")
        self.stdout.flush()

    def lines(self, items: Iterable[str]) -> None:
        for item in items:
            self.stdout.write(item + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """A remark for the person at the terminal (stderr), never mixed into data."""
        self.stderr.write(text.rstrip("\n") + "\n")
        self.stderr.flush()


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - loop always returns


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain left-aligned table (no colours: output is often piped into other tools)."""
    body = [list(map(str, r)) for r in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    out = []
    for row in [list(headers), *body]:
        out.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(out)
