"""How the command line fails: one readable line, a hint, and the right exit code.

Exit codes are part of the interface (scripts branch on them): ``0`` success, ``1`` the operation
failed, ``2`` the command line was wrong. A traceback is noise to someone who mistyped a tag, so it
is printed only with ``-v``; an unexpected exception (a bug) still gets one line plus a hint to
rerun with ``-v``. (``traceback`` is imported only then: every start-up loads this module.)
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "UsageError", "report"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

PROG = "ocistore"


class UsageError(Exception):
    """The arguments are wrong in a way argparse cannot see (exit code 2)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _line(stream: TextIO, text: str) -> None:
    stream.write(text.rstrip("\n") + "\n")
    stream.flush()


def report(exc: BaseException, *, verbose: int, stream: TextIO | None = None) -> int:
    """Print ``exc`` for a person and return the exit code it deserves."""
    from ocistore.errors import OCIStoreError, UnauthorizedError

    err = stream or sys.stderr
    if isinstance(exc, KeyboardInterrupt):
        _line(err, f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    if verbose:
        import traceback

        traceback.print_exception(exc, file=err)
    if isinstance(exc, UsageError):
        _line(err, f"{PROG}: error: {exc}")
        if exc.hint:
            _line(err, f"hint: {exc.hint}")
        return EXIT_USAGE
    if isinstance(exc, OCIStoreError):
        _line(err, f"{PROG}: error: {_one_line(str(exc))}")
        if exc.hint:
            _line(err, f"hint: {exc.hint}")
        if isinstance(exc, UnauthorizedError):
            # Scheme hints speak of settings; say how to give credentials on this command line.
            _line(err, "hint: on the command line: --user USER --password-stdin")
        return EXIT_ERROR
    if isinstance(exc, OSError):
        # Local files (an output path, a FILE argument): strerror plus the name says it all.
        where = f": {exc.filename}" if exc.filename else ""
        _line(err, f"{PROG}: error: {exc.strerror or exc}{where}")
        return EXIT_ERROR
    _line(err, f"{PROG}: error: internal error: {type(exc).__name__}: {_one_line(str(exc))}")
    if not verbose:
        _line(err, "hint: rerun with -v for the traceback, and please report it")
    return EXIT_ERROR


def _one_line(text: str) -> str:
    """Messages from remote servers can span lines; the contract is one line."""
    return " ".join(text.split()) or "(no message)"
