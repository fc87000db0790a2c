"""What a copy is asked to do (:class:`CopyOptions`) and what it did (:class:`CopyResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocistore.digest import Digest
    from ocistore.platform import Platform

__all__ = ["CopyOptions", "CopyResult"]


@dataclass(frozen=True)
class CopyOptions:
    """Options of :meth:`ocistore.Client.image_copy` (regctl's ``image copy`` flags).

    * ``platforms``: copy only the index entries matching one of these (``os/arch[/variant]``
      or :class:`~ocistore.platform.Platform`; ``""`` matches entries without a platform). An
      index that loses entries is written as a new, smaller index, so its digest changes; the
      result says so (``CopyResult.sparse``).
    * ``referrers``: copy the referrers of every copied manifest, recursively;
      ``referrers_artifact_type`` keeps only those of that artifactType.
    * ``digest_tags``: copy tags named ``<alg>-<hex>`` / ``<alg>-<hex>.*`` after a copied
      manifest's digest (cosign's ``.sig``, ``.att``...), except referrers fallback tags.
    * ``fast``: if the target tag already has the source digest, do nothing at all.
    * ``force_recursive``: check and copy every child even when the top manifest matches, to
      repair a target with missing pieces.
    * ``include_external``: copy layers that carry ``urls`` (foreign or non-distributable);
      by default they are left out and only referenced.
    * ``concurrency``: parallel transfers (default: ``Settings.concurrency``).
    * ``attempts``: tries per step (one blob, one manifest read, one manifest push), the first
      included, when a step fails transiently (a dropped connection, 408, 429, 5xx, a cut
      download, bytes damaged on the way from or to a registry, an upload session the
      registry lost); ``retry_delay`` is the first pause in seconds, doubled for each further
      one. A mismatch read from local storage, authentication and "not found" errors are
      never retried (:mod:`ocistore.copy.retry`).
    """

    platforms: tuple[Platform | str, ...] = ()
    referrers: bool = False
    referrers_artifact_type: str | None = None
    digest_tags: bool = False
    fast: bool = False
    force_recursive: bool = False
    include_external: bool = False
    concurrency: int | None = None
    attempts: int = 3
    retry_delay: float = 0.5


@dataclass
class CopyResult:
    """What a copy did.

    ``digest`` and ``media_type`` describe the manifest now at the target reference. It equals
    ``source_digest`` unless a platform filter produced a new, sparse index (``sparse``).
    ``skipped`` is true when the target already had everything and nothing was checked further.
    ``retries`` counts the steps (blob transfers, manifest reads and pushes) that failed
    transiently and were started again; the copy succeeded in spite of them.
    """

    digest: Digest
    media_type: str
    blobs_copied: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    bytes_copied: int = 0
    manifests_pushed: int = 0
    manifests_skipped: int = 0
    source_digest: Digest | None = None
    sparse: bool = False
    skipped: bool = False
    referrers_copied: int = 0
    tags_copied: tuple[str, ...] = field(default=())
    retries: int = 0
