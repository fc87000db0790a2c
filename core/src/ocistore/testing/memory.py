"""An in-memory scheme (``memory://name:tag``): the smallest complete implementation of the
contract.

It exists for tests (the copy engine and the conformance kit run against it without disk or
network) and as a worked example for plugin authors; register it with
``Router(plugins=[("memory", MemoryPlugin())])``. Stores are shared per process by location, so
two ``Client`` objects see the same content, like two processes would with a real backend.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ocistore.blob import CHUNK_SIZE, BlobReader, RawStream
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest, Hasher
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ManifestNotFoundError,
    MissingDigestError,
    MissingTagError,
    RepositoryNotFoundError,
    ShortReadError,
    SizeLimitExceededError,
    TagNotFoundError,
)
from ocistore.hookspecs import hookimpl
from ocistore.manifest import Manifest
from ocistore.mediatype import OCTET_STREAM
from ocistore.ref import Ref, parse_path_reference
from ocistore.scheme import SchemeBase, SchemeInfo, SchemeSpec, page_names

if TYPE_CHECKING:
    from ocistore.plugins import SchemeRegistry
    from ocistore.settings import Settings

__all__ = ["MemoryPlugin", "MemoryScheme", "MemoryTamper", "parse"]

_MAX_BLOB = 256 * 1024 * 1024


@dataclass
class _Repo:
    blobs: dict[Digest, bytes] = field(default_factory=dict)
    #: Exact bytes and media type, parsed (and so verified) again on every read.
    manifests: dict[Digest, tuple[bytes, str]] = field(default_factory=dict)
    tags: dict[str, Digest] = field(default_factory=dict)


_STORES: dict[str, _Repo] = {}
_LOCK = threading.RLock()


def parse(text: str) -> Ref:
    return parse_path_reference("memory", text)


class MemoryScheme(SchemeBase):
    """Every operation of the contract, on dictionaries."""

    name = "memory"

    def __init__(self, settings: Settings | None = None) -> None:
        if settings is not None:
            settings.scheme_options("memory", known=())  # it has none: refuse any
        self.settings = settings

    def info(self) -> SchemeInfo:
        return SchemeInfo(
            blob_mount=True,
            referrers_api=True,
            tag_delete=True,
            blob_delete=True,
            repo_list=True,
        )

    @staticmethod
    def reset() -> None:
        """Forget every store (for test isolation)."""
        with _LOCK:
            _STORES.clear()

    def _repo(self, ref: Ref, *, create: bool = False) -> _Repo:
        with _LOCK:
            repo = _STORES.get(ref.path)
            if repo is None:
                if not create:
                    raise RepositoryNotFoundError(f"repository {ref.location} not found")
                repo = _STORES[ref.path] = _Repo()
            return repo

    # -- blobs --------------------------------------------------------------------------------
    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        data = self._repo(ref).blobs.get(digest)
        if data is None:
            raise BlobNotFoundError(f"blob {digest} not found in {ref.location}")
        # The reader checks the stored bytes against the digest asked for: never trust storage.
        return BlobReader(io.BytesIO(data), digest=digest, size=size, name=f"blob {digest}")

    def blob_head(self, ref: Ref, digest: Digest) -> Descriptor:
        data = self._repo(ref).blobs.get(digest)
        if data is None:
            raise BlobNotFoundError(f"blob {digest} not found in {ref.location}")
        return Descriptor(OCTET_STREAM, digest, len(data))

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        hasher = digest.hasher() if digest else Hasher()
        buf = bytearray()
        while chunk := reader.read(CHUNK_SIZE):
            hasher.update(chunk)
            buf += chunk
            if len(buf) > _MAX_BLOB:
                raise SizeLimitExceededError(f"blob over {_MAX_BLOB} bytes for the memory scheme")
        actual = hasher.digest()
        if digest is not None and actual != digest:
            raise DigestMismatchError(
                f"blob put to {ref.location}: expected {digest}, got {actual}"
            )
        if length is not None and len(buf) != length:
            # The declared length is a promise like the digest; nothing is stored on a mismatch.
            error = ShortReadError if len(buf) < length else SizeLimitExceededError
            raise error(f"blob put to {ref.location}: expected {length} bytes, got {len(buf)}")
        with _LOCK:
            self._repo(ref, create=True).blobs[actual] = bytes(buf)
        return actual, len(buf)

    def blob_mount(self, source: Ref, target: Ref, digest: Digest) -> None:
        data = self._repo(source).blobs.get(digest)
        if data is None:
            raise BlobNotFoundError(f"blob {digest} not found in {source.location}")
        with _LOCK:
            self._repo(target, create=True).blobs[digest] = data

    def blob_delete(self, ref: Ref, digest: Digest) -> None:
        with _LOCK:
            if self._repo(ref).blobs.pop(digest, None) is None:
                raise BlobNotFoundError(f"blob {digest} not found in {ref.location}")

    # -- manifests ----------------------------------------------------------------------------
    def _resolve(self, ref: Ref) -> Manifest:
        repo = self._repo(ref)
        digest = ref.digest
        if digest is None:
            tag = ref.tag or "latest"
            digest = repo.tags.get(tag)
            if digest is None:
                raise ManifestNotFoundError(f"tag {tag!r} not found in {ref.location}")
        found = repo.manifests.get(digest)
        if found is None:
            raise ManifestNotFoundError(f"manifest {digest} not found in {ref.location}")
        raw, media_type = found
        # Parsed against the digest it was looked up by: stored bytes that changed fail here.
        return Manifest.from_bytes(raw, media_type=media_type, expected_digest=digest)

    def manifest_get(self, ref: Ref) -> Manifest:
        return self._resolve(ref)

    def manifest_head(self, ref: Ref) -> Descriptor:
        return self._resolve(ref).descriptor()

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        manifest.check_writable()
        if ref.digest is not None and ref.digest != manifest.digest:
            raise DigestMismatchError(f"manifest put to {ref}: content hashes to {manifest.digest}")
        with _LOCK:
            repo = self._repo(ref, create=True)
            repo.manifests[manifest.digest] = (manifest.raw, manifest.media_type)
            if ref.tag:
                repo.tags[ref.tag] = manifest.digest
            elif ref.digest is None and not child:
                repo.tags["latest"] = manifest.digest

    def manifest_delete(self, ref: Ref) -> None:
        if ref.digest is None:
            raise MissingDigestError(f"manifest delete needs a digest: {ref}")
        with _LOCK:
            repo = self._repo(ref)
            if repo.manifests.pop(ref.digest, None) is None:
                raise ManifestNotFoundError(f"manifest {ref.digest} not found in {ref.location}")
            for tag in [t for t, d in repo.tags.items() if d == ref.digest]:
                del repo.tags[tag]

    # -- tags, referrers, repositories ---------------------------------------------------------
    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        return page_names(self._repo(ref).tags, limit=limit, last=last)

    def tag_delete(self, ref: Ref) -> None:
        if not ref.tag:
            raise MissingTagError(f"tag delete needs a tag: {ref}")
        with _LOCK:
            if self._repo(ref).tags.pop(ref.tag, None) is None:
                raise TagNotFoundError(f"tag {ref.tag!r} not found in {ref.location}")

    def referrers(
        self, ref: Ref, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        try:
            repo = self._repo(ref)
        except RepositoryNotFoundError:
            return []
        out = []
        for raw, media_type in list(repo.manifests.values()):
            man = Manifest.from_bytes(raw, media_type=media_type)
            if man.subject is not None and man.subject.digest == digest:
                desc = man.referrer_descriptor()
                if artifact_type is None or desc.artifact_type == artifact_type:
                    out.append(desc)
        return sorted(out, key=lambda d: str(d.digest))

    def repo_list(
        self, ref: Ref, *, limit: int | None = None, last: str | None = None
    ) -> list[str]:
        return page_names(_STORES, limit=limit, last=last)


class MemoryTamper:
    """Changes stored bytes behind the scheme's back: the conformance kit's ``tamper`` fixture
    (:class:`ocistore.testing.conformance.Tamper`), to prove that reads verify."""

    def blob(self, ref: Ref, digest: Digest, data: bytes) -> None:
        with _LOCK:
            _STORES[ref.path].blobs[digest] = data

    def manifest(self, ref: Ref, digest: Digest, raw: bytes) -> None:
        with _LOCK:
            repo = _STORES[ref.path]
            repo.manifests[digest] = (raw, repo.manifests[digest][1])


class MemoryPlugin:
    """A plugin object registering ``memory://`` (pass it to ``Router(plugins=[...])``)."""

    @hookimpl
    def ocistore_add_schemes(self, registry: SchemeRegistry) -> None:
        registry.add(SchemeSpec("memory", parse, MemoryScheme, description="in-memory store"))
