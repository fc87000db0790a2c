"""Translating ``OSError`` into the ocistore error tree at the scheme boundary.

Callers of a scheme catch :mod:`ocistore.errors` and nothing else. Expected absences (a missing
tag, blob or layout) are raised as the precise ``NotFoundError`` subclasses where they happen;
this module catches everything else the filesystem can throw (permissions, a full disk, a file
where a directory should be) and says which operation, which reference and which file failed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from ocistore.errors import LayoutError

__all__ = ["describe_oserror", "translate_oserrors", "translating"]

F = TypeVar("F", bound=Callable[..., Any])


def describe_oserror(e: OSError) -> str:
    """``strerror: filename`` (with the second file of a rename or link, when there is one)."""
    text = e.strerror or str(e)
    if e.filename is not None:
        text += f": {e.filename}"
    if e.filename2 is not None:
        text += f" -> {e.filename2}"
    return text


@contextlib.contextmanager
def translating(op: str, ref: object) -> Iterator[None]:
    """Inside, ``OSError`` becomes ``LayoutError`` naming ``op``, ``ref`` and the file.

    For context-manager methods, wrap only our own enter and exit steps: an ``OSError`` raised by
    the caller's code inside their ``with`` block is theirs and passes unchanged.
    """
    try:
        yield
    except OSError as e:
        hint = None
        if isinstance(e, PermissionError):
            hint = "check the permissions of the layout directory and its files"
        raise LayoutError(f"ocidir {op} {ref} failed: {describe_oserror(e)}", hint=hint) from e


def translate_oserrors(op: str) -> Callable[[F], F]:
    """Decorate a scheme method so that ``OSError`` leaves it as ``LayoutError``.

    The first positional argument after ``self`` is the reference acted on, which the message
    names; a permission problem gets a hint, since it is the one users can usually fix.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(self: object, *args: Any, **kwargs: Any) -> Any:
            with translating(op, args[0] if args else "(no reference)"):
                return func(self, *args, **kwargs)

        return cast("F", wrapper)

    return decorate
