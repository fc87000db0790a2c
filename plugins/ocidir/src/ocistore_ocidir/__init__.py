"""ocistore scheme for OCI image layout directories."""

from __future__ import annotations

__all__: list[str] = []
