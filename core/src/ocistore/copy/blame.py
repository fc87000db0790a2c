"""Naming the culprit when a copy fails with an exception outside the error tree.

A scheme is meant to raise only ``ocistore.errors``; anything else (``KeyError``,
``sqlite3.OperationalError``) is a bug, and the plugin's author needs its type, not just its
message ("'x'" says nothing). This finds the innermost traceback frame in a scheme's own package
and names that scheme, its distribution and the line, so the user knows whom to report it to.
"""

from __future__ import annotations

from collections.abc import Iterable

from ocistore.errors import OCIStoreError

__all__ = ["describe"]


def _package(obj: object) -> str:
    """Where a scheme's code lives: its top package, or its own module for one shipped inside
    ``ocistore`` (the memory and example schemes), so that core frames are not blamed."""
    module = type(obj).__module__
    top = module.split(".", 1)[0]
    return module if top == "ocistore" else top


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _distribution(package: str) -> str:
    from importlib.metadata import packages_distributions  # only on this (rare) path

    names = packages_distributions().get(package, [])
    return names[0] if names else package


def describe(error: BaseException, schemes: Iterable[object]) -> str:
    """``error`` for a one-line message: as is when it is an ``OCIStoreError``; otherwise its
    type and message, with the scheme whose code raised it when one did."""
    if isinstance(error, OCIStoreError):
        return str(error)
    original = f"{type(error).__name__}: {error}"
    by_package = {_package(s): s for s in schemes}
    blamed = None
    tb = error.__traceback__
    while tb is not None:  # innermost last: keep the deepest frame in a scheme's package
        module = tb.tb_frame.f_globals.get("__name__", "")
        for package, scheme in by_package.items():
            if _within(module, package):
                blamed = (scheme, module, tb.tb_lineno)
        tb = tb.tb_next
    if blamed is None:
        return f"internal error: {original}"
    scheme, module, line = blamed
    name = getattr(scheme, "name", type(scheme).__name__)
    dist = _distribution(module.split(".", 1)[0])
    return f"bug in the {name} scheme ({dist}: {module} line {line}): {original}"
