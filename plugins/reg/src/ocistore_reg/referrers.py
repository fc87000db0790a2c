"""Referrers: the distribution-spec API, and the ``<alg>-<hex>`` tag that stands in for it.

Listing asks ``GET /v2/<repo>/referrers/<digest>`` first; any answer but 200 with an OCI index
(distribution 2.8 says 404) sends us to the fallback tag, where a missing tag means "no
referrers". Whether a repository has the API is remembered for a few minutes, so a registry
without it costs one extra request per repository, not per call.

When a manifest with a ``subject`` is pushed and the registry does not answer ``OCI-Subject``,
nobody else will index it: the client adds it to the fallback tag's index (read, modify, write,
under a lock per subject; the spec leaves cross-process races to the clients and so do we), and
takes it out again when the manifest is deleted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ocistore import mediatype as mt
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import (
    ManifestError,
    ManifestInvalidError,
    ManifestNotFoundError,
    RegistryError,
    SizeLimitExceededError,
    UnsupportedError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore.ref import Ref
from ocistore_reg import scopes
from ocistore_reg.http import Transport, read_limited
from ocistore_reg.manifests import manifest_get, manifest_put
from ocistore_reg.tags import tag_delete
from ocistore_reg.translate import raise_for
from ocistore_reg.urls import add_query, next_link

__all__ = ["Referrers"]

_RepoKey = tuple[str, str]
_MAX_PAGES = 1000


def _filtered(descriptors: list[Descriptor], artifact_type: str | None) -> list[Descriptor]:
    if not artifact_type:
        return descriptors
    return [d for d in descriptors if d.artifact_type == artifact_type]


class Referrers:
    """Referrer listing and fallback-tag upkeep for one :class:`~ocistore_reg.scheme.Reg`."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._support: dict[_RepoKey, tuple[bool, float]] = {}
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    # -- API support memory --------------------------------------------------------------------
    def api_supported(self, ref: Ref) -> bool | None:
        """True/False as last seen within the TTL, None when unknown."""
        with self._guard:
            found = self._support.get((ref.registry, ref.repository))
        if found is None or self._clock() > found[1]:
            return None
        return found[0]

    def remember(self, ref: Ref, supported: bool) -> None:
        with self._guard:
            self._support[(ref.registry, ref.repository)] = (supported, self._clock() + self._ttl)

    def has_api(self, t: Transport, ref: Ref, subject: Digest) -> bool:
        """Whether the repository answers the referrers API (asked once per TTL)."""
        known = self.api_supported(ref)
        if known is None:
            known = self._from_api(t, ref, subject, None) is not None
            self.remember(ref, known)
        return known

    def _lock(self, ref: Ref, subject: Digest) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(
                (ref.registry, ref.repository, str(subject)), threading.Lock()
            )

    # -- listing -------------------------------------------------------------------------------
    def referrers(
        self, t: Transport, ref: Ref, digest: Digest, artifact_type: str | None
    ) -> list[Descriptor]:
        if self.api_supported(ref) is not False:
            found = self._from_api(t, ref, digest, artifact_type)
            self.remember(ref, found is not None)
            if found is not None:
                return found
        return _filtered(self._from_tag(t, ref, digest), artifact_type)

    def _from_api(
        self, t: Transport, ref: Ref, digest: Digest, artifact_type: str | None
    ) -> list[Descriptor] | None:
        """The API's answer (all pages), or None when the registry has no referrers API."""
        what = f"list referrers of {digest} in {ref.location}"
        url: str | None = t.repo_url(ref.repository, f"referrers/{digest}")
        if artifact_type:
            url = add_query(str(url), artifactType=artifact_type)
        found: list[Descriptor] = []
        server_filtered = True
        pages = 0
        seen: set[str] = set()
        while url is not None:
            if url in seen or pages >= _MAX_PAGES:
                problem = "loops back" if url in seen else f"runs past {_MAX_PAGES} pages"
                raise RegistryError(f"{what}: the registry's Link pagination {problem}", status=200)
            seen.add(url)
            response = t.request(
                "GET",
                url,
                what=what,
                scopes=(scopes.pull(ref.repository),),
                headers={"Accept": mt.OCI_INDEX},
            )
            first = pages == 0
            pages += 1
            if response.status_code != 200:
                if first and response.status_code not in (401, 403):
                    response.close()
                    return None
                raise_for(response, what)
            body = read_limited(response, MAX_MANIFEST_SIZE)
            if body is None:
                raise SizeLimitExceededError(f"{what}: a page exceeds {MAX_MANIFEST_SIZE} bytes")
            try:
                index = Manifest.from_bytes(body, media_type=response.headers.get("Content-Type"))
            except ManifestError:
                if first:
                    return None
                raise
            if index.media_type != mt.OCI_INDEX:
                if first:
                    return None
                raise ManifestInvalidError(f"{what}: a page is {index.media_type}, not an index")
            applied = response.headers.get("OCI-Filters-Applied", "")
            if "artifacttype" not in {f.strip().lower() for f in applied.split(",")}:
                server_filtered = False
            found.extend(index.manifests)
            url = next_link(response.headers, response.url)
        return found if server_filtered else _filtered(found, artifact_type)

    def _from_tag(self, t: Transport, ref: Ref, digest: Digest) -> list[Descriptor]:
        index = self._read_tag(t, ref.with_tag(digest.referrers_tag))
        return list(index.manifests) if index is not None else []

    @staticmethod
    def _read_tag(t: Transport, tag_ref: Ref) -> Manifest | None:
        try:
            index = manifest_get(t, tag_ref)
        except ManifestNotFoundError:
            return None
        if index.media_type != mt.OCI_INDEX:
            raise ManifestInvalidError(
                f"referrers tag {tag_ref} holds a {index.media_type}, not an OCI index; "
                "not touching it"
            )
        return index

    # -- fallback-tag upkeep -------------------------------------------------------------------
    def add(self, t: Transport, ref: Ref, manifest: Manifest) -> None:
        """Record ``manifest`` in its subject's fallback index (no duplicates by digest)."""
        subject = manifest.subject
        if subject is None:
            return
        tag_ref = ref.with_tag(subject.digest.referrers_tag)
        entry = manifest.referrer_descriptor().to_dict()
        with self._lock(ref, subject.digest):
            current = self._read_tag(t, tag_ref)
            doc: dict[str, Any] = (
                dict(current.data)
                if current is not None
                else {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
            )
            entries = list(doc.get("manifests") or [])
            kept = [e for e in entries if e.get("digest") != str(manifest.digest)]
            if [e for e in entries if e not in kept] == [entry]:
                return  # already listed, exactly like this
            doc["manifests"] = [*kept, entry]
            manifest_put(t, tag_ref, Manifest.from_data(doc, media_type=mt.OCI_INDEX), child=False)

    def remove(self, t: Transport, ref: Ref, manifest: Manifest) -> None:
        """Take ``manifest`` out of its subject's fallback index; drop the tag when empty."""
        subject = manifest.subject
        if subject is None:
            return
        tag_ref = ref.with_tag(subject.digest.referrers_tag)
        with self._lock(ref, subject.digest):
            current = self._read_tag(t, tag_ref)
            if current is None:
                return
            doc = dict(current.data)
            entries = list(doc.get("manifests") or [])
            kept = [e for e in entries if e.get("digest") != str(manifest.digest)]
            if kept == entries:
                return
            if not kept:
                try:
                    tag_delete(t, tag_ref)
                    return
                except UnsupportedError:
                    pass  # deletion is off: an empty index says the same thing
            doc["manifests"] = kept
            manifest_put(t, tag_ref, Manifest.from_data(doc, media_type=mt.OCI_INDEX), child=False)
