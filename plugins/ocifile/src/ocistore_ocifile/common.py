"""What both tar schemes share: one :class:`TarFile` per path, ``OSError`` translation, names.

Errors raised to callers are :mod:`ocistore.errors`; an ``OSError`` (permissions, a full disk)
leaves a scheme method as a ``StorageError`` naming the operation, the reference and the file.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ocistore.errors import LayoutError, StorageError
from ocistore.scheme import page_names
from ocistore_ocidir.oserrors import describe_oserror
from ocistore_ocifile.store import TarFile

if TYPE_CHECKING:
    from ocistore.ref import Ref

__all__ = ["TarFiles", "blob_name", "paged", "translate_oserrors"]

F = TypeVar("F", bound=Callable[..., Any])


def blob_name(digest: object) -> str:
    """``blobs/<alg>/<encoded>``: where an OCI layout keeps a blob."""
    alg, _, encoded = str(digest).partition(":")
    return f"blobs/{alg}/{encoded}"


def paged(items: list[str], limit: int | None, last: str | None) -> list[str]:
    """Sorted ``items`` after ``last``, at most ``limit`` (registry-style paging)."""
    return page_names(items, limit=limit, last=last)  # a negative limit is refused


class TarFiles:
    """One :class:`TarFile` per absolute path, so that every call on a path shares its lock."""

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self._files: dict[str, TarFile] = {}
        self._mutex = threading.Lock()

    def get(self, ref: Ref) -> TarFile:
        if not ref.path:
            raise LayoutError(f"reference {ref} has no tar path")
        key = str(Path(ref.path).absolute())
        with self._mutex:
            found = self._files.get(key)
            if found is None:
                found = self._files[key] = TarFile(Path(ref.path), self.scheme)
            return found


@contextlib.contextmanager
def translating(scheme: str, op: str, ref: object) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        hint = (
            "check the permissions of the tar and its directory"
            if isinstance(e, PermissionError)
            else None
        )
        raise StorageError(f"{scheme} {op} {ref} failed: {describe_oserror(e)}", hint=hint) from e


def translate_oserrors(op: str) -> Callable[[F], F]:
    """Decorate a scheme method: ``OSError`` leaves it as ``StorageError``."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with translating(self.name, op, args[0] if args else "(no reference)"):
                return func(self, *args, **kwargs)

        return cast("F", wrapper)

    return decorate
