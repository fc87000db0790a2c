"""ocistore schemes for image tars: OCI layout tars and docker-save tars."""

from __future__ import annotations

__all__: list[str] = []
