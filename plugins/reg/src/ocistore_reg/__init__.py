"""ocistore scheme for OCI and Docker registries over HTTP."""

from __future__ import annotations

__all__: list[str] = []
