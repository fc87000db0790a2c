"""JSON Schema validation of manifests, with errors that point at the offending field.

The schemas ship in ``ocistore/schemas/manifests.json``. Every document is checked against them,
in two steps, because importing ``jsonschema`` and building a validator costs more than the rest
of a small command's start-up:

1. :func:`certainly_valid` walks the same schema in plain Python. It knows the few keywords the
   shipped schema uses (``type``, ``properties``, ``required``, ``items``, ``additionalProperties``,
   ``const``, ``pattern``, ``minimum``, ``allOf``, local ``$ref``) and answers only "valid for
   sure" or "not sure": it gives up on any keyword, type or value it does not handle exactly
   (a float size, a keyword it does not know, ...).
2. Anything not certainly valid goes to ``jsonschema`` (imported then, validators cached), which
   decides and names the offending field.

So ``jsonschema`` still makes every rejection and writes every message, and acceptance is the
same as with ``jsonschema`` alone as long as step 1 never says "valid" to a document
``jsonschema`` rejects; ``core/tests/test_startup.py`` checks that against many mutated manifests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from ocistore.errors import ManifestInvalidError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["SCHEMA_NAMES", "certainly_valid", "validate_document"]

SCHEMA_NAMES = ("ociManifest", "ociIndex", "dockerManifest", "dockerManifestList", "ociLayout")

#: Keywords that assert nothing with the validators built here: annotations, and ``format``
#: (``_validator`` passes no format checker, so jsonschema ignores it too).
_NO_ASSERTION = frozenset(
    {"$comment", "$defs", "title", "description", "format", "contentEncoding"}
)
#: Deepest schema nesting followed before giving up (the shipped schemas nest five deep).
_MAX_DEPTH = 32


@cache
def _defs() -> dict[str, Any]:
    from importlib import resources

    text = resources.files("ocistore").joinpath("schemas/manifests.json").read_text("utf-8")
    defs: dict[str, Any] = json.loads(text)["$defs"]
    return defs


def _root(name: str) -> dict[str, Any]:
    if name not in SCHEMA_NAMES:
        raise KeyError(name)
    return {"$ref": f"#/$defs/{name}", "$defs": _defs()}


@cache
def _validator(name: str) -> Validator:
    from jsonschema import Draft202012Validator

    # No format_checker: "format" stays an annotation, as _NO_ASSERTION assumes.
    validator: Validator = Draft202012Validator(_root(name))
    return validator


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sure(doc: Any, schema: Any, defs: dict[str, Any], depth: int) -> bool:
    """True only if ``doc`` certainly satisfies ``schema`` under Draft 2020-12."""
    if schema is True:
        return True
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return False
    for key, arg in schema.items():
        if key in _NO_ASSERTION:
            continue
        check = _CHECKS.get(key)
        if check is None or not check(doc, arg, schema, defs, depth + 1):
            return False  # a keyword this walker does not know, or not certainly satisfied
    return True


# One function per keyword: (doc, keyword's value, its schema, $defs, depth) -> certainly ok.
# Each returns False for any value it does not handle exactly as jsonschema does.
def _ref(doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> bool:
    prefix = "#/$defs/"
    if not isinstance(arg, str) or not arg.startswith(prefix):
        return False
    target = arg[len(prefix) :]
    if "/" in target or "~" in target or "%" in target or target not in defs:
        return False
    return _sure(doc, defs[target], defs, depth)


def _type(doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> bool:
    if arg == "object":
        return isinstance(doc, dict)
    if arg == "array":
        return isinstance(doc, list)
    if arg == "string":
        return isinstance(doc, str)
    if arg == "integer":
        return _is_int(doc)  # jsonschema also takes 1.0: left to it
    return False


def _const(doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> bool:
    # strings and integers only, where jsonschema compares with == too (and True != 1)
    if isinstance(arg, str):
        return isinstance(doc, str) and doc == arg
    return _is_int(arg) and _is_int(doc) and doc == arg


def _match(doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> bool:
    # jsonschema: re.search, and only strings are constrained
    if not isinstance(arg, str):
        return False
    return not isinstance(doc, str) or _pattern(arg).search(doc) is not None


def _minimum(doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> bool:
    # only numbers are constrained: integers are compared, any other number (float, Decimal,
    # ...) is left to jsonschema; bools and non-numbers pass, as there
    if not _is_int(arg):
        return False
    if _is_int(doc):
        return bool(doc >= arg)
    return isinstance(doc, (str, dict, list, bool)) or doc is None


def _required(doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> bool:
    if not isinstance(arg, list):
        return False
    return not isinstance(doc, dict) or all(k in doc for k in arg)


def _properties(
    doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int
) -> bool:
    if not isinstance(arg, dict):
        return False
    if not isinstance(doc, dict):
        return True
    return all(_sure(doc[k], sub, defs, depth) for k, sub in arg.items() if k in doc)


def _additional(
    doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int
) -> bool:
    known = schema.get("properties", {})
    if "patternProperties" in schema or not isinstance(known, dict):
        return False
    if not isinstance(doc, dict):
        return True
    return all(_sure(v, arg, defs, depth) for k, v in doc.items() if k not in known)


def _items(doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> bool:
    if "prefixItems" in schema:
        return False
    return not isinstance(doc, list) or all(_sure(v, arg, defs, depth) for v in doc)


def _all_of(doc: Any, arg: Any, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> bool:
    if not isinstance(arg, list) or not arg:
        return False
    return all(_sure(doc, sub, defs, depth) for sub in arg)


_CHECKS: dict[str, Callable[[Any, Any, dict[str, Any], dict[str, Any], int], bool]] = {
    "$ref": _ref,
    "type": _type,
    "const": _const,
    "pattern": _match,
    "minimum": _minimum,
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional,
    "items": _items,
    "allOf": _all_of,
}


def certainly_valid(name: str, doc: Any) -> bool:
    """True if ``doc`` certainly satisfies schema ``name``; False means "ask jsonschema"."""
    defs = _defs()
    return _sure(doc, _root(name), defs, 0)


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def validate_document(name: str, doc: Any, *, what: str = "manifest") -> None:
    """Raise ``ManifestInvalidError`` naming the first offending field of ``doc``."""
    if certainly_valid(name, doc):
        return
    errors = sorted(_validator(name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        raise ManifestInvalidError(f"invalid {what}: {_field(err.absolute_path)}: {err.message}")
