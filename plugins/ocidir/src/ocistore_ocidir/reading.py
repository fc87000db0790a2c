"""Resolving a reference to a manifest in a layout, and reading it (the scheme's read path).

``resolve`` looks in the view the handle gives (an open session's, which includes its own changes
and other writers' since, or the cached index.json), under the handle's mutex; the blob is read
outside it. Errors name the tag, the digest and the missing file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocistore.digest import Digest
from ocistore.errors import (
    BlobNotFoundError,
    ManifestNotFoundError,
    ShortReadError,
    SizeLimitExceededError,
    TagNotFoundError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore_ocidir.index import Entry

if TYPE_CHECKING:
    from ocistore.ref import Ref
    from ocistore_ocidir.handle import LayoutHandle

__all__ = ["DEFAULT_TAG", "manifest_missing", "read_manifest", "resolve", "tag_of_ref"]

DEFAULT_TAG = "latest"


def tag_of_ref(ref: Ref) -> str:
    """The tag ``ref`` names for messages: none when it names a digest, else its tag or the
    default."""
    return "" if ref.digest else (ref.tag or DEFAULT_TAG)


def manifest_missing(handle: LayoutHandle, digest: Digest, tag: str = "") -> ManifestNotFoundError:
    rel = handle.layout.relative(handle.layout.blob_path(digest))
    if tag:
        return ManifestNotFoundError(
            f"tag {tag!r} in OCI layout {handle.layout} points to manifest {digest}, "
            f"but {rel} is missing"
        )
    return ManifestNotFoundError(
        f"manifest {digest} not found in OCI layout {handle.layout} (no {rel})"
    )


def resolve(handle: LayoutHandle, ref: Ref) -> tuple[Digest, Entry | None]:
    """Digest of ``ref`` (digest wins over tag) and its index.json entry if it has one."""
    with handle.mutex:
        if ref.digest is not None:
            if handle.deleted_in_session(ref.digest):
                raise manifest_missing(handle, ref.digest)
            return ref.digest, handle.view().find_digest(ref.digest)
        tag = ref.tag or DEFAULT_TAG
        index = handle.view()
        entry = index.find_tag(tag)
    if entry is None:
        raise TagNotFoundError(f"tag {tag!r} not found in OCI layout {handle.layout}")
    return index.descriptor(entry).digest, entry


def read_manifest(handle: LayoutHandle, ref: Ref) -> tuple[Manifest, Entry | None]:
    """The manifest ``ref`` names, verified against its digest and index.json's size."""
    digest, entry = resolve(handle, ref)
    try:
        raw = handle.blobs.read_bytes(digest, MAX_MANIFEST_SIZE)
    except BlobNotFoundError:
        raise manifest_missing(handle, digest, tag_of_ref(ref)) from None
    size = entry.get("size") if entry else None
    if isinstance(size, int) and size != len(raw):
        error = SizeLimitExceededError if len(raw) > size else ShortReadError
        raise error(
            f"manifest {digest} in OCI layout {handle.layout} is {len(raw)} bytes, "
            f"but index.json says {size}"
        )
    media_type = str(entry.get("mediaType") or "") if entry else ""
    manifest = Manifest.from_bytes(raw, media_type=media_type or None, expected_digest=digest)
    return manifest, entry
