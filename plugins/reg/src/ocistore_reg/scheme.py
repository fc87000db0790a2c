"""The ``reg`` scheme: the scheme contract over the OCI distribution API.

Each method picks the host's :class:`~ocistore_reg.http.Transport` and hands over to the module
that owns the endpoint (``blobs``, ``upload``, ``manifests``, ``tags``, ``referrers``,
``catalog``). What needs more than one endpoint is orchestrated here: a manifest with a subject
updates the referrers fallback tag after a push, and before a delete.
"""

from __future__ import annotations

import logging

from ocistore.blob import BlobReader, RawStream
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import InvalidReferenceError, ManifestError, RegistryError, TransportError
from ocistore.manifest import Manifest
from ocistore.ref import Ref
from ocistore.scheme import SchemeBase, SchemeInfo
from ocistore.settings import Settings
from ocistore_reg import blobs, catalog, manifests, tags, upload
from ocistore_reg.hosts import HostPool
from ocistore_reg.http import AuthFactory, Transport
from ocistore_reg.referrers import Referrers
from ocistore_reg.translate import raise_for

__all__ = ["Reg"]

log = logging.getLogger("ocistore_reg")


class Reg(SchemeBase):
    """OCI and Docker registries over HTTP(S).

    ``auth_factory`` replaces the authenticator (tests); by default every host gets
    :class:`ocistore_reg.auth.Authenticator` with the host's explicit credentials, else those
    from docker's config when ``settings.docker_config`` allows.
    """

    name = "reg"

    def __init__(self, settings: Settings, *, auth_factory: AuthFactory | None = None) -> None:
        self.settings = settings
        self._hosts = HostPool(settings, auth_factory)
        self._referrers = Referrers(self._hosts.options.referrers_cache_ttl)

    def info(self) -> SchemeInfo:
        return SchemeInfo(
            manifest_push_first=False,
            blob_mount=True,
            # True for every registry: ``referrers`` uses the API where the registry has one and
            # the fallback tag (kept up to date by ``manifest_put``) where it does not.
            referrers_api=True,
            tag_delete=True,
            blob_delete=True,
            repo_list=True,
            gc=False,
            multi_process=True,  # the server serialises; each process has its own sessions
        )

    def transport(self, ref: Ref) -> Transport:
        """The transport for ``ref``'s registry (tests use it to adjust timing)."""
        if ref.scheme != "reg" or not ref.registry:
            raise InvalidReferenceError(f"{ref}: not a registry reference")
        return self._hosts.get(ref.registry)

    # -- registry ------------------------------------------------------------------------------
    def ping(self, ref: Ref) -> None:
        t = self.transport(ref)
        what = f"ping {t.hostname}"
        response = t.request("GET", t.url("/v2/"), what=what)
        if response.status_code != 200:
            raise_for(response, what)
        response.close()

    def repo_list(
        self, ref: Ref, *, limit: int | None = None, last: str | None = None
    ) -> list[str]:
        return catalog.repo_list(self.transport(ref), limit=limit, last=last)

    # -- blobs ---------------------------------------------------------------------------------
    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        return blobs.blob_get(self.transport(ref), ref, digest, size)

    def blob_head(self, ref: Ref, digest: Digest) -> Descriptor:
        return blobs.blob_head(self.transport(ref), ref, digest)

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        return upload.blob_put(self.transport(ref), ref, digest, reader, length)

    def blob_mount(self, source: Ref, target: Ref, digest: Digest) -> None:
        """Mount within one registry; raises ``MountRefusedError`` (an UnsupportedError) on 202."""
        blobs.blob_mount(self.transport(target), source, target, digest)

    def blob_delete(self, ref: Ref, digest: Digest) -> None:
        blobs.blob_delete(self.transport(ref), ref, digest)

    # -- manifests -----------------------------------------------------------------------------
    def manifest_get(self, ref: Ref) -> Manifest:
        return manifests.manifest_get(self.transport(ref), ref)

    def manifest_head(self, ref: Ref) -> Descriptor:
        return manifests.manifest_head(self.transport(ref), ref)

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        t = self.transport(ref)
        headers = manifests.manifest_put(t, ref, manifest, child=child)
        subject = manifest.subject
        if subject is None:
            return
        if headers.get("OCI-Subject"):
            self._referrers.remember(ref, True)
            return
        self._referrers.add(t, ref, manifest)

    def manifest_delete(self, ref: Ref) -> None:
        """Delete by digest; a manifest with a subject also leaves the fallback index."""
        t = self.transport(ref)
        found: Manifest | None = None
        if ref.digest is not None:
            try:
                found = manifests.manifest_get(t, ref)
            except (ManifestError, RegistryError, TransportError) as exc:
                log.debug("%s: not reading it before the delete: %s", ref, exc)
        manifests.manifest_delete(t, ref)
        if found is None or found.subject is None:
            return
        if not self._referrers.has_api(t, ref, found.subject.digest):
            self._referrers.remove(t, ref, found)

    # -- tags and referrers --------------------------------------------------------------------
    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        return tags.tag_list(self.transport(ref), ref, limit=limit, last=last)

    def tag_delete(self, ref: Ref) -> None:
        tags.tag_delete(self.transport(ref), ref)

    def referrers(
        self, ref: Ref, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        return self._referrers.referrers(self.transport(ref), ref, digest, artifact_type)

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self, ref: Ref) -> None:
        """Close the connections to ``ref``'s registry; they reopen on the next call."""
        if ref.registry:
            self._hosts.close(ref.registry)
