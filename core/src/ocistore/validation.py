"""JSON Schema validation of manifests, with errors that point at the offending field.

The schemas ship in ``ocistore/schemas/manifests.json``; ``jsonschema`` is imported on first use
so that ``import ocistore`` stays light.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ocistore.errors import ManifestInvalidError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["SCHEMA_NAMES", "validate_document"]

SCHEMA_NAMES = ("ociManifest", "ociIndex", "dockerManifest", "dockerManifestList", "ociLayout")


@cache
def _defs() -> dict[str, Any]:
    text = resources.files("ocistore").joinpath("schemas/manifests.json").read_text("utf-8")
    defs: dict[str, Any] = json.loads(text)["$defs"]
    return defs


@cache
def _validator(name: str) -> Validator:
    from jsonschema import Draft202012Validator

    if name not in SCHEMA_NAMES:
        raise KeyError(name)
    schema = {"$ref": f"#/$defs/{name}", "$defs": _defs()}
    validator: Validator = Draft202012Validator(schema)
    return validator


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def validate_document(name: str, doc: Any, *, what: str = "manifest") -> None:
    """Raise ``ManifestInvalidError`` naming the first offending field of ``doc``."""
    errors = sorted(_validator(name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        raise ManifestInvalidError(f"invalid {what}: {_field(err.absolute_path)}: {err.message}")
