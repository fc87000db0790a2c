"""Blob reads, probes, deletes and cross-repository mounts (uploads are in ``upload``)."""

from __future__ import annotations

import logging

from ocistore.blob import BlobReader
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import (
    BlobNotFoundError,
    MountRefusedError,
    OCIStoreError,
    RegistryError,
    ShortReadError,
    SizeLimitExceededError,
    UnsupportedError,
)
from ocistore.mediatype import OCTET_STREAM
from ocistore.ref import Ref
from ocistore_reg import scopes
from ocistore_reg.http import Transport
from ocistore_reg.stream import ResumingStream
from ocistore_reg.translate import raise_for
from ocistore_reg.urls import add_query, resolve

__all__ = [
    "MountRefusedError",
    "blob_delete",
    "blob_get",
    "blob_head",
    "blob_mount",
    "cancel_upload",
]

log = logging.getLogger("ocistore_reg")


def _content_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def blob_get(t: Transport, ref: Ref, digest: Digest, size: int | None) -> BlobReader:
    what = f"blob {digest} in {ref.location}"
    url = t.repo_url(ref.repository, f"blobs/{digest}")
    scope = (scopes.pull(ref.repository),)
    response = t.request("GET", url, what=f"GET {what}", scopes=scope)
    if response.status_code != 200:
        raise_for(response, f"GET {what}", not_found=BlobNotFoundError)
    length = _content_length(response.headers.get("Content-Length"))
    if size is not None and length is not None and length != size:
        response.close()
        error = SizeLimitExceededError if length > size else ShortReadError
        raise error(
            f"{what}: the registry announces {length} bytes, the descriptor says {size}",
            remote=True,
        )
    total = size if size is not None else length
    stream = ResumingStream(t, url, response, scopes=scope, total=total, what=what)
    # ``remote``: these bytes crossed a network, so a mismatch is worth another read (a copy
    # starts the blob again); see ocistore.errors.VerificationError.
    return BlobReader(stream, digest=digest, size=total, name=what, remote=True)


def blob_head(t: Transport, ref: Ref, digest: Digest) -> Descriptor:
    what = f"HEAD blob {digest} in {ref.location}"
    url = t.repo_url(ref.repository, f"blobs/{digest}")
    response = t.request("HEAD", url, what=what, scopes=(scopes.pull(ref.repository),))
    response.close()
    if response.status_code != 200:
        raise_for(response, what, not_found=BlobNotFoundError)
    length = _content_length(response.headers.get("Content-Length"))
    if length is None:
        raise RegistryError(f"{what}: the registry sent no Content-Length", status=200)
    return Descriptor(OCTET_STREAM, digest, length)


def blob_delete(t: Transport, ref: Ref, digest: Digest) -> None:
    what = f"DELETE blob {digest} in {ref.location}"
    url = t.repo_url(ref.repository, f"blobs/{digest}")
    response = t.request("DELETE", url, what=what, scopes=(scopes.delete(ref.repository),))
    if response.status_code not in (200, 202, 204):
        raise_for(response, what, not_found=BlobNotFoundError, unsupported=True)
    response.close()


def cancel_upload(t: Transport, location: str, repository: str) -> None:
    """Abandon an upload session; failures are ignored (the registry expires sessions)."""
    try:
        t.request(
            "DELETE", location, what="cancel upload", scopes=(scopes.push(repository),), retry=False
        ).close()
    except OCIStoreError as exc:
        log.debug("cancelling upload session failed (ignored): %s", exc)


def blob_mount(t: Transport, source: Ref, target: Ref, digest: Digest) -> None:
    """POST ``?mount=<d>&from=<repo>``: 201 is done, 202 means "upload it yourself".

    On 202 the session is cancelled and :class:`MountRefusedError` raised, so that the caller
    decides where the bytes come from (copy streams them from the source).
    """
    what = f"mount blob {digest} from {source.location} to {target.location}"
    if not source.same_registry(target):
        raise UnsupportedError(
            f"{what}: a mount only works within one registry",
            hint="copy the blob instead",
        )
    if source.same_repository(target):
        blob_head(t, target, digest)  # nothing to link; just make sure it is there
        return
    url = add_query(
        t.repo_url(target.repository, "blobs/uploads/"),
        mount=str(digest),
        **{"from": source.repository},
    )
    wanted = (scopes.push(target.repository), scopes.pull(source.repository))
    response = t.request("POST", url, what=what, scopes=wanted)
    response.close()
    if response.status_code == 201:
        return
    if response.status_code == 202:
        location = response.headers.get("Location")
        if location:
            cancel_upload(t, resolve(response.url, location), target.repository)
        raise MountRefusedError(
            f"{what}: the registry did not mount it (it opened an upload instead)",
            hint="upload the blob (a copy does this by itself)",
        )
    raise_for(response, what, not_found=BlobNotFoundError)
