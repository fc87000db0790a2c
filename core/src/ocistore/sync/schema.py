"""The sync config's JSON Schema (``ocistore/schemas/sync-config.json``), checked by jsonschema.

The schema says what keys exist and what their values look like; this module turns jsonschema's
findings into one :class:`~ocistore.errors.ConfigError` that starts with the offending key's
dotted path (``sync[3].tags.newest``). When a nested value is wrong, jsonschema also reports its
parent as having an "unevaluated" property; that echo is dropped, so the message names the key
that is really wrong, not the table around it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from ocistore.errors import ConfigError
from ocistore.sync.envexpand import key_path

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["schema", "validate"]

_UNEXPECTED = re.compile(r"'([^']+)'")


@cache
def schema() -> dict[str, Any]:
    """The schema document, as shipped."""
    from importlib import resources

    text = resources.files("ocistore").joinpath("schemas/sync-config.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def _located(error: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """``(path, message)`` pairs for one error; unknown keys get a path of their own."""
    path = tuple(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(
        error.instance, dict
    ):
        inner = error.message.split("(", 1)[-1]
        names = [n for n in _UNEXPECTED.findall(inner) if n in error.instance]
        if names:
            return [((*path, n), "unknown key") for n in names]
    return [(path, error.message)]


def validate(data: Any, *, origin: str) -> None:
    """Raise :class:`ConfigError` for the first problem in ``data`` (None when it is valid)."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for error in _validator().iter_errors(data):
        found.extend(_located(error))
    if not found:
        return
    # An "unknown key" whose value also has an error of its own is an echo of that error.
    real = [
        (path, message)
        for path, message in found
        if not (
            message == "unknown key"
            and any(len(p) > len(path) and p[: len(path)] == path for p, _ in found)
        )
    ]
    real.sort(key=lambda item: (tuple(str(p) for p in item[0]), item[1]))
    path, message = real[0]
    key = key_path(path)
    more = (
        f" (and {len(real) - 1} more problem{'s' if len(real) > 2 else ''})"
        if len(real) > 1
        else ""
    )
    raise ConfigError(
        f"{origin}: {key}: {message}{more}",
        key=key,
        hint="the format is described in docs/sync.md",
    )
