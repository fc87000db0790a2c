"""``example://DIR[:tag][@digest]``: a complete scheme plugin in one small module, files in a
directory, written to be read by plugin authors next to CONTRIBUTING.md's guide.

It keeps every rule of the contract with the plainest means: each blob and manifest is a file
named by its digest, written to a temporary file and renamed (so a reader never sees half of
one, and two writers of the same content both succeed); tags are files holding a digest; reads
go through :class:`~ocistore.blob.BlobReader` or :meth:`Manifest.from_bytes` with the expected
digest, so stored bytes that changed fail instead of being returned; one lock per scheme object
makes the read-modify-write of tags thread-safe. Register it with
``Router(plugins=[("example", ExamplePlugin())])``, or through an entry point as the guide
shows; ``core/tests/test_example_plugin.py`` runs the conformance kit on it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
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
    StorageError,
    TagNotFoundError,
)
from ocistore.hookspecs import hookimpl
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore.mediatype import OCTET_STREAM
from ocistore.ref import Ref, parse_path_reference
from ocistore.scheme import SchemeBase, SchemeInfo, SchemeSpec, page_names

if TYPE_CHECKING:
    from ocistore.plugins import SchemeRegistry
    from ocistore.settings import Settings

__all__ = ["ExamplePlugin", "ExampleScheme", "parse"]


def parse(text: str) -> Ref:
    """``example://DIR[:tag][@digest]``; pure, and ``str(parse(t))`` parses back equal."""
    return parse_path_reference("example", text)


class ExampleScheme(SchemeBase):
    """Blobs in ``DIR/blobs/<alg>/<hex>``, manifests in ``DIR/manifests/<alg>/<hex>`` (with the
    media type in ``<hex>.type``), tags in ``DIR/tags/<tag>``."""

    name = "example"

    def __init__(self, settings: Settings | None = None) -> None:
        if settings is not None:
            settings.scheme_options(self.name, known=())  # no options: refuse typos
        self._lock = threading.Lock()

    def info(self) -> SchemeInfo:
        return SchemeInfo(referrers_api=True, tag_delete=True, blob_delete=True)

    # -- files ---------------------------------------------------------------------------------
    @staticmethod
    def _root(ref: Ref, *, create: bool = False) -> Path:
        root = Path(ref.path)
        if create:
            root.mkdir(parents=True, exist_ok=True)  # racing creators all succeed
        elif not root.is_dir():
            raise RepositoryNotFoundError(f"repository {ref.location} not found (no {root})")
        return root

    @staticmethod
    def _write(path: Path, chunks: list[bytes]) -> None:
        """Temp file + rename: readers and racing writers never see a partial file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def _file(root: Path, kind: str, digest: Digest) -> Path:
        return root / kind / digest.algorithm / digest.encoded

    # -- blobs ---------------------------------------------------------------------------------
    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        path = self._file(self._root(ref), "blobs", digest)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            raise BlobNotFoundError(f"blob {digest} not found in {ref.location}") from None
        return BlobReader(fh, digest=digest, size=size, name=f"blob {digest} in {ref.location}")

    def blob_head(self, ref: Ref, digest: Digest) -> Descriptor:
        try:
            size = self._file(self._root(ref), "blobs", digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFoundError(f"blob {digest} not found in {ref.location}") from None
        return Descriptor(OCTET_STREAM, digest, size)

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        hasher = digest.hasher() if digest is not None else Hasher()
        chunks: list[bytes] = []  # a real scheme streams to its temp file instead
        while chunk := reader.read(CHUNK_SIZE):
            hasher.update(chunk)
            chunks.append(chunk)
            if length is not None and hasher.size > length:
                raise SizeLimitExceededError(f"blob put to {ref.location}: over {length} bytes")
        actual = hasher.digest()
        if length is not None and hasher.size < length:
            raise ShortReadError(f"blob put to {ref.location}: {hasher.size} of {length} bytes")
        if digest is not None and actual != digest:
            raise DigestMismatchError(f"blob put to {ref.location}: {actual}, not {digest}")
        try:
            self._write(self._file(self._root(ref, create=True), "blobs", actual), chunks)
        except OSError as e:  # translate at the boundary: callers catch ocistore.errors only
            raise StorageError(f"blob put to {ref.location}: {e}") from e
        return actual, hasher.size

    def blob_delete(self, ref: Ref, digest: Digest) -> None:
        try:
            self._file(self._root(ref), "blobs", digest).unlink()
        except FileNotFoundError:
            raise BlobNotFoundError(f"blob {digest} not found in {ref.location}") from None

    # -- manifests -----------------------------------------------------------------------------
    def _digest_of(self, ref: Ref, root: Path) -> Digest:
        if ref.digest is not None:
            return ref.digest
        tag = ref.tag or "latest"
        try:
            return Digest.parse((root / "tags" / tag).read_text())
        except FileNotFoundError:
            raise TagNotFoundError(f"tag {tag!r} not found in {ref.location}") from None

    def manifest_get(self, ref: Ref) -> Manifest:
        root = self._root(ref)
        digest = self._digest_of(ref, root)
        path = self._file(root, "manifests", digest)
        try:
            raw = path.read_bytes()[: MAX_MANIFEST_SIZE + 1]
            media_type = path.with_suffix(".type").read_text()
        except FileNotFoundError:
            raise ManifestNotFoundError(f"manifest {digest} not found in {ref.location}") from None
        return Manifest.from_bytes(raw, media_type=media_type, expected_digest=digest)

    def manifest_head(self, ref: Ref) -> Descriptor:
        return self.manifest_get(ref).descriptor()  # small files: reading is the cheap way

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        manifest.check_writable()
        if ref.digest is not None and ref.digest != manifest.digest:
            raise DigestMismatchError(f"manifest put to {ref}: it hashes to {manifest.digest}")
        root = self._root(ref, create=True)
        path = self._file(root, "manifests", manifest.digest)
        self._write(path.with_suffix(".type"), [manifest.media_type.encode()])
        self._write(path, [manifest.raw])
        # The default tag: only a reference with neither tag nor digest, and never a child.
        tag = ref.tag or ("latest" if ref.digest is None and not child else "")
        if tag:
            self._write(root / "tags" / tag, [str(manifest.digest).encode()])

    def manifest_delete(self, ref: Ref) -> None:
        if ref.digest is None:
            raise MissingDigestError(f"manifest delete needs a digest: {ref}")
        root = self._root(ref)
        path = self._file(root, "manifests", ref.digest)
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                raise ManifestNotFoundError(
                    f"manifest {ref.digest} not in {ref.location}"
                ) from None
            path.with_suffix(".type").unlink(missing_ok=True)
            for tag in self._tags(root):
                if (root / "tags" / tag).read_text() == str(ref.digest):
                    (root / "tags" / tag).unlink()

    # -- tags and referrers --------------------------------------------------------------------
    @staticmethod
    def _tags(root: Path) -> list[str]:
        tags = root / "tags"
        return (
            [p.name for p in tags.iterdir() if not p.name.startswith(".")] if tags.is_dir() else []
        )

    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        return page_names(self._tags(self._root(ref)), limit=limit, last=last)

    def tag_delete(self, ref: Ref) -> None:
        if not ref.tag:
            raise MissingTagError(f"tag delete needs a tag: {ref}")
        try:
            (self._root(ref) / "tags" / ref.tag).unlink()
        except FileNotFoundError:
            raise TagNotFoundError(f"tag {ref.tag!r} not found in {ref.location}") from None

    def referrers(
        self, ref: Ref, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """A scan of every stored manifest: fine for a small store, what an index is for."""
        try:
            root = self._root(ref)
        except RepositoryNotFoundError:
            return []
        found = []
        for path in sorted((root / "manifests").glob("*/*")):
            if path.suffix or path.name.startswith("."):
                continue
            man = self.manifest_get(ref.with_digest(f"{path.parent.name}:{path.name}"))
            if man.subject is not None and man.subject.digest == digest:
                desc = man.referrer_descriptor()
                if artifact_type is None or desc.artifact_type == artifact_type:
                    found.append(desc)
        return found


class ExamplePlugin:
    """The plugin object: one registrar hook, the scheme built only when first used."""

    @hookimpl
    def ocistore_add_schemes(self, registry: SchemeRegistry) -> None:
        registry.add(
            SchemeSpec("example", parse, ExampleScheme, description="files in a directory")
        )
