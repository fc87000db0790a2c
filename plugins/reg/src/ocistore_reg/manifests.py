"""Manifest get, head, put and delete.

Raw bytes are the manifest: they are pushed exactly as held, and what is read is hashed as
received. ``Docker-Content-Digest`` is compared with the bytes but never believed over them, and
the size limit (:data:`ocistore.manifest.MAX_MANIFEST_SIZE`) is checked on ``Content-Length``
before reading and again while reading, so a hostile server cannot make us buffer a blob.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from ocistore import mediatype as mt
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import (
    DigestMismatchError,
    InvalidDigestError,
    ManifestNotFoundError,
    MissingDigestError,
    MissingTagError,
    RegistryError,
    SizeLimitExceededError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore.ref import Ref
from ocistore_reg import scopes
from ocistore_reg.http import Transport, read_limited
from ocistore_reg.translate import raise_for

__all__ = [
    "ACCEPT",
    "manifest_delete",
    "manifest_get",
    "manifest_head",
    "manifest_put",
]

#: Sent on GET and HEAD alike, so both describe the same representation.
ACCEPT = ", ".join(mt.ACCEPT_MANIFESTS)
# Content-Types that do not say which manifest type it is: a GET has to look at the body.
log = logging.getLogger(__name__)
#: Manifest PUTs retried while the registry says a just-uploaded blob is unknown.
_BLOB_UNKNOWN_RETRIES = 4
_VAGUE_TYPES = frozenset({"", "application/json", "text/plain", mt.OCTET_STREAM})


def _reference(ref: Ref) -> str:
    if not ref.reference:
        raise MissingTagError(f"{ref}: a manifest needs a tag or a digest")
    return ref.reference


def _header_digest(headers: Mapping[str, str]) -> Digest | None:
    value = headers.get("Docker-Content-Digest")
    if not value:
        return None
    try:
        return Digest.parse(value.strip())
    except InvalidDigestError:
        return None


def _matches(raw: bytes, digest: Digest) -> bool:
    return Digest.from_bytes(raw, digest.algorithm) == digest


def manifest_get(t: Transport, ref: Ref) -> Manifest:
    what = f"GET manifest {ref}"
    url = t.repo_url(ref.repository, f"manifests/{_reference(ref)}")
    response = t.request(
        "GET", url, what=what, scopes=(scopes.pull(ref.repository),), headers={"Accept": ACCEPT}
    )
    if response.status_code != 200:
        raise_for(response, what, not_found=ManifestNotFoundError)
    length = response.headers.get("Content-Length", "").strip()
    if length.isdigit() and int(length) > MAX_MANIFEST_SIZE:
        response.close()
        raise SizeLimitExceededError(
            f"{what}: the registry announces {length} bytes, over the {MAX_MANIFEST_SIZE} byte "
            "manifest limit; not reading it"
        )
    raw = read_limited(response, MAX_MANIFEST_SIZE)
    if raw is None:
        raise SizeLimitExceededError(
            f"{what}: the body exceeds the {MAX_MANIFEST_SIZE} byte manifest limit"
        )
    manifest = Manifest.from_bytes(
        raw, media_type=response.headers.get("Content-Type"), expected_digest=ref.digest
    )
    claimed = _header_digest(response.headers)
    if claimed is not None and not _matches(raw, claimed):
        raise DigestMismatchError(
            f"{what}: the registry says Docker-Content-Digest {claimed}, but the body hashes to "
            f"{Digest.from_bytes(raw, claimed.algorithm)}"
        )
    return manifest


def manifest_head(t: Transport, ref: Ref) -> Descriptor:
    """Media type, digest and size; a GET fills in what a HEAD answer leaves out."""
    what = f"HEAD manifest {ref}"
    url = t.repo_url(ref.repository, f"manifests/{_reference(ref)}")
    response = t.request(
        "HEAD", url, what=what, scopes=(scopes.pull(ref.repository),), headers={"Accept": ACCEPT}
    )
    response.close()
    status = response.status_code
    if status == 200:
        digest = _header_digest(response.headers)
        media_type = mt.normalize(response.headers.get("Content-Type"))
        length = response.headers.get("Content-Length", "").strip()
        if ref.digest is not None and digest is not None:
            if digest.algorithm == ref.digest.algorithm and digest != ref.digest:
                raise DigestMismatchError(
                    f"{what}: asked for {ref.digest}, the registry answers for {digest}"
                )
            digest = ref.digest
        if digest is not None and media_type not in _VAGUE_TYPES and length.isdigit():
            return Descriptor(media_type, digest, int(length))
    elif status not in (400, 405, 501):  # HEAD refused: the GET below may still work
        raise_for(response, what, not_found=ManifestNotFoundError)
    return manifest_get(t, ref).descriptor()


def manifest_put(t: Transport, ref: Ref, manifest: Manifest, *, child: bool) -> Mapping[str, str]:
    """PUT the exact bytes to the tag (or to the digest for children and untagged refs).

    Returns the answer's headers, which say whether the registry handled a ``subject``.
    """
    manifest.check_writable()
    what = f"PUT manifest {manifest.digest} to {ref}"
    if ref.digest is not None and not _matches(manifest.raw, ref.digest):
        raise DigestMismatchError(
            f"{what}: the reference names {ref.digest}, the manifest is {manifest.digest}"
        )
    target = ref.tag if ref.tag and not child else str(ref.digest or manifest.digest)
    for attempt in range(_BLOB_UNKNOWN_RETRIES + 1):
        response = t.request(
            "PUT",
            t.repo_url(ref.repository, f"manifests/{target}"),
            what=what,
            scopes=(scopes.push(ref.repository),),
            headers={"Content-Type": manifest.media_type},
            body=manifest.raw,
        )
        if response.status_code in (200, 201, 204):
            break
        try:
            raise_for(response, what)
        except RegistryError as e:
            # distribution 2.8 briefly loses a blob while another upload of the same blob
            # commits (found by the conformance kit's concurrent pushes); it reappears.
            if "MANIFEST_BLOB_UNKNOWN" not in e.codes or attempt == _BLOB_UNKNOWN_RETRIES:
                raise
            log.info("%s: a blob is not visible yet (%s); trying again", what, e)
            time.sleep(0.05 * 2**attempt)
    response.close()
    claimed = _header_digest(response.headers)
    if claimed is not None and not _matches(manifest.raw, claimed):
        raise DigestMismatchError(
            f"{what}: the registry reports Docker-Content-Digest {claimed}, "
            "so it did not store the bytes that were sent"
        )
    return response.headers


def manifest_delete(t: Transport, ref: Ref) -> None:
    """DELETE by digest, which removes every tag pointing at it."""
    if ref.digest is None:
        raise MissingDigestError(
            f"{ref}: deleting a manifest needs a digest (it deletes every tag pointing at it)",
            hint="resolve the tag first (manifest_head) and delete by digest, or delete the tag",
        )
    what = f"DELETE manifest {ref}"
    response = t.request(
        "DELETE",
        t.repo_url(ref.repository, f"manifests/{ref.digest}"),
        what=what,
        scopes=(scopes.delete(ref.repository),),
    )
    if response.status_code not in (200, 202, 204):
        raise_for(response, what, not_found=ManifestNotFoundError, unsupported=True)
    response.close()
