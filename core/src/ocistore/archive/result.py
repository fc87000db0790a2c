"""The result type shared by both import formats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocistore.digest import Digest

__all__ = ["ImportResult", "Tally"]


@dataclass(frozen=True)
class ImportResult:
    """What an import pushed; ``format`` is ``"oci"`` or ``"docker"`` (docker save)."""

    digest: Digest
    media_type: str
    format: str
    manifests: int
    blobs_pushed: int
    blobs_skipped: int
    bytes: int


@dataclass
class Tally:
    """Running counts while importing."""

    manifests: int = 0
    blobs_pushed: int = 0
    blobs_skipped: int = 0
    bytes: int = 0
