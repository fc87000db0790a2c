"""ocistore: move container images and OCI artifacts between storage backends.

The names below are imported on first use, so ``import ocistore`` costs almost nothing and never
loads a plugin or an HTTP library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "BlobReader": "ocistore.blob",
    "Client": "ocistore.client",
    "CopyOptions": "ocistore.copy",
    "CopyResult": "ocistore.copy",
    "ProgressCallback": "ocistore.copy",
    "ProgressEvent": "ocistore.copy",
    "Descriptor": "ocistore.descriptor",
    "EMPTY_DESCRIPTOR": "ocistore.descriptor",
    "Digest": "ocistore.digest",
    "HostConfig": "ocistore.settings",
    "Manifest": "ocistore.manifest",
    "Platform": "ocistore.platform",
    "Ref": "ocistore.ref",
    "Router": "ocistore.router",
    "Scheme": "ocistore.scheme",
    "SchemeBase": "ocistore.scheme",
    "SchemeInfo": "ocistore.scheme",
    "SchemeSpec": "ocistore.scheme",
    "SchemeRegistry": "ocistore.plugins",
    "Settings": "ocistore.settings",
    "hookimpl": "ocistore.hookspecs",
    "parse_path_reference": "ocistore.ref",
    "parse_reg_reference": "ocistore.ref",
}

__all__ = [
    "EMPTY_DESCRIPTOR",
    "BlobReader",
    "Client",
    "CopyOptions",
    "CopyResult",
    "Descriptor",
    "Digest",
    "HostConfig",
    "Manifest",
    "Platform",
    "ProgressCallback",
    "ProgressEvent",
    "Ref",
    "Router",
    "Scheme",
    "SchemeBase",
    "SchemeInfo",
    "SchemeRegistry",
    "SchemeSpec",
    "Settings",
    "__version__",
    "errors",
    "hookimpl",
    "mediatype",
    "parse_path_reference",
    "parse_reg_reference",
]


def __getattr__(name: str) -> Any:
    if name in ("errors", "mediatype"):
        return importlib.import_module(f"ocistore.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ocistore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ocistore import errors, mediatype
    from ocistore.blob import BlobReader
    from ocistore.client import Client
    from ocistore.copy import CopyOptions, CopyResult, ProgressCallback, ProgressEvent
    from ocistore.descriptor import EMPTY_DESCRIPTOR, Descriptor
    from ocistore.digest import Digest
    from ocistore.hookspecs import hookimpl
    from ocistore.manifest import Manifest
    from ocistore.platform import Platform
    from ocistore.plugins import SchemeRegistry
    from ocistore.ref import Ref, parse_path_reference, parse_reg_reference
    from ocistore.router import Router
    from ocistore.scheme import Scheme, SchemeBase, SchemeInfo, SchemeSpec
    from ocistore.settings import HostConfig, Settings
