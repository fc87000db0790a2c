"""Referrers in a layout: the fallback tag index, and a scan of index.json.

A layout has no referrers API, so a manifest with a ``subject`` is recorded the way the
distribution spec prescribes for registries without one: in an OCI index tagged
``<alg>-<encoded>`` (``Digest.referrers_tag``), stored in index.json like any tag. Its entries
carry the referrer's artifactType (pulled up from the config media type when the manifest has
none) and annotations, because clients filter on them without fetching every manifest
(sigstore/cosign#4641 shows what happens when they are missing).

Other tools (ORAS) put referrers into index.json without maintaining that tag, so
:func:`find_referrers` also scans every index.json entry for a matching ``subject``. The subject
of a manifest never changes (its digest is its content), so the scan caches it per digest.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import InvalidDigestError, NotFoundError, OCIStoreError
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore.mediatype import MANIFEST_TYPES, OCI_INDEX
from ocistore_ocidir.blobs import BlobStore
from ocistore_ocidir.index import Entry, Index

__all__ = ["FallbackIndexes", "SubjectCache", "build_fallback", "find_referrers"]


def build_fallback(entries: list[Entry]) -> bytes:
    """The fallback index document for ``entries`` (compact JSON, like every index we write)."""
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


class FallbackIndexes:
    """Reads and rewrites the fallback index of a subject, inside a given ``Index``.

    Parsed fallback indexes are cached by their own digest, so a batch that adds many referrers
    to one subject does not re-read the previous version each time.
    """

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._cache: dict[str, list[Entry]] = {}
        self._mutex = threading.Lock()

    def entries(self, index: Index, subject: Digest) -> list[Entry]:
        """The subject's recorded referrers; a missing or unreadable fallback index is empty.

        Unreadable is treated as empty (and rebuilt on the next change) rather than as an
        error, because the index.json scan still finds every tagged or untagged referrer.
        """
        entry = index.find_name(subject.referrers_tag)
        if entry is None:
            return []
        key = str(entry.get("digest"))
        with self._mutex:
            cached = self._cache.get(key)
        if cached is not None:
            return list(cached)
        try:
            raw = self._blobs.read_bytes(Digest.parse(key), MAX_MANIFEST_SIZE)
            doc = json.loads(raw)
        except (OCIStoreError, ValueError, UnicodeDecodeError, RecursionError):
            return []
        manifests = doc.get("manifests") if isinstance(doc, dict) else None
        found = [m for m in manifests or () if isinstance(m, dict)]
        with self._mutex:
            self._cache[key] = found
        return list(found)

    def store(self, index: Index, subject: Digest, entries: list[Entry]) -> None:
        """Write the fallback index for ``entries`` and point the tag at it (or drop the tag)."""
        tag = subject.referrers_tag
        if not entries:
            index.remove_name(tag)
            return
        raw = build_fallback(entries)
        digest = Digest.from_bytes(raw)
        self._blobs.put_bytes(raw, digest)
        with self._mutex:
            self._cache[str(digest)] = list(entries)
        index.put({"mediaType": OCI_INDEX, "digest": str(digest), "size": len(raw)}, tag)

    def add(self, index: Index, subject: Digest, referrer: Entry) -> None:
        """Record ``referrer`` once: an entry with the same digest is replaced in place."""
        entries = self.entries(index, subject)
        for i, existing in enumerate(entries):
            if existing.get("digest") == referrer["digest"]:
                if existing == referrer:
                    return
                entries[i] = referrer
                break
        else:
            entries.append(referrer)
        self.store(index, subject, entries)

    def remove(self, index: Index, subject: Digest, digest: Digest) -> None:
        entries = self.entries(index, subject)
        kept = [e for e in entries if e.get("digest") != str(digest)]
        if len(kept) != len(entries):
            self.store(index, subject, kept)


class SubjectCache:
    """Digest -> subject digest (or ``None``) of manifests, shared by scans of one instance."""

    def __init__(self) -> None:
        self._map: dict[str, str | None] = {}
        self._mutex = threading.Lock()

    def subject_of(self, blobs: BlobStore, digest: Digest) -> str | None:
        key = str(digest)
        with self._mutex:
            if key in self._map:
                return self._map[key]
        subject: str | None = None
        try:
            doc: Any = json.loads(blobs.read_bytes(digest, MAX_MANIFEST_SIZE))
        except (NotFoundError, OCIStoreError, ValueError, UnicodeDecodeError, RecursionError):
            return None  # not cached: the blob may appear (or be repaired) later
        if isinstance(doc, dict) and isinstance(doc.get("subject"), dict):
            value = doc["subject"].get("digest")
            subject = value if isinstance(value, str) else None
        with self._mutex:
            self._map[key] = subject
        return subject


def _scan(index: Index, subject: Digest, blobs: BlobStore, cache: SubjectCache) -> list[Descriptor]:
    found: list[Descriptor] = []
    for entry in index:
        media_type = str(entry.get("mediaType", ""))
        if media_type and media_type not in MANIFEST_TYPES:
            continue
        try:
            digest = Digest.parse(entry.get("digest", ""))
        except InvalidDigestError:
            continue
        if cache.subject_of(blobs, digest) != str(subject):
            continue
        try:
            raw = blobs.read_bytes(digest, MAX_MANIFEST_SIZE)
            manifest = Manifest.from_bytes(raw, media_type=media_type or None, validate=False)
        except OCIStoreError:
            continue
        found.append(manifest.referrer_descriptor().replace(digest=digest))
    return found


def find_referrers(
    index: Index,
    subject: Digest,
    blobs: BlobStore,
    fallbacks: FallbackIndexes,
    cache: SubjectCache,
    *,
    artifact_type: str | None = None,
) -> list[Descriptor]:
    """The fallback index's entries, then scanned ones not already listed; filtered by type."""
    out: list[Descriptor] = []
    seen: set[str] = set()
    for entry in fallbacks.entries(index, subject):
        try:
            desc = Descriptor.from_dict(entry, where=f"referrers of {subject}")
        except OCIStoreError:
            continue
        if str(desc.digest) not in seen:
            seen.add(str(desc.digest))
            out.append(desc)
    for desc in _scan(index, subject, blobs, cache):
        if str(desc.digest) not in seen:
            seen.add(str(desc.digest))
            out.append(desc)
    if artifact_type:
        out = [d for d in out if d.artifact_type == artifact_type]
    return out
