"""Blob uploads: mount probe, monolithic PUT, chunked PATCH, with the fallbacks between them.

The order, and why:

1. With digest and length known, ``POST ?mount=<digest>`` (no ``from``): a registry that has
   the blob anywhere it may link answers 201 and nothing is sent; 202 opens a session that is
   used as is. One attempt, no backoff: refusal is the common case.
2. Otherwise ``POST /blobs/uploads/`` for a session (202 + ``Location``, relative or absolute).
3. With digest and length known and the size within ``HostConfig.blob_max``: one ``PUT`` of
   the whole blob to the session with ``digest=`` added to the session URL's query.
4. Else, or when that PUT failed and the reader can seek back: ``PATCH`` chunks with inclusive
   ``Content-Range`` (at least ``OCI-Chunk-Min-Length`` each), following every new
   ``Location``, re-syncing after a 416 from the session's status (``GET`` → 204 + ``Range``),
   then an empty ``PUT ?digest=``.

The digest is computed from the bytes as they are sent, so a caller's wrong digest is reported
as :class:`~ocistore.errors.DigestMismatchError` whatever the registry says, and an unknown
digest is learnt on the way. A failed upload cancels its session.

One exception saves hashing every byte twice: a one-shot reader (it cannot seek, so the body is
never replayed) whose ``enforced_digest`` attribute equals the digest being uploaded promises to
raise at its own end of stream unless its content hashes to exactly that, as a verifying
``BlobReader`` does (a copy hands over such a reader). Then the upload does not hash; it reads
one byte past ``length`` *before* the last block is handed to the socket, so that the reader's
check runs, and a mismatch aborts the request before the registry has the whole blob.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from ocistore.blob import RawStream
from ocistore.digest import Digest, Hasher
from ocistore.errors import (
    DigestMismatchError,
    RegistryError,
    ShortReadError,
    SizeLimitExceededError,
    TransportError,
)
from ocistore.mediatype import OCTET_STREAM
from ocistore.ref import Ref
from ocistore_reg import scopes
from ocistore_reg.blobs import cancel_upload
from ocistore_reg.http import Transport
from ocistore_reg.translate import raise_for
from ocistore_reg.urls import add_query, parse_upload_range, resolve

__all__ = ["MAX_CHUNK", "blob_put"]

log = logging.getLogger("ocistore_reg")

#: ``OCI-Chunk-Min-Length`` is honoured up to this size (chunks are held in memory).
MAX_CHUNK = 1024 * 1024 * 1024
#: Re-syncs (416, short ``Range``) allowed per chunk before giving up.
_MAX_RESYNC = 10
# Codes that say the bytes were wrong: sending them again in chunks would not help.
_CONTENT_CODES = frozenset({"DIGEST_INVALID", "SIZE_INVALID"})


class _SizedReader:
    """The monolithic PUT body: exactly ``length`` bytes of the reader, hashed on the way.

    With ``hasher`` None the reader verifies itself (see the module docstring): instead of
    hashing, the source's end-of-stream check is run before the last block is returned.
    """

    def __init__(self, reader: RawStream, length: int, hasher: Hasher | None, what: str) -> None:
        self._reader = reader
        self._left = length
        self._length = length
        self._hasher = hasher
        self._what = what

    def __len__(self) -> int:
        return self._length

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._reader.read(want)
        if not data:
            raise ShortReadError(
                f"{self._what}: the source ended after {self._length - self._left} of "
                f"{self._length} bytes"
            )
        self._left -= len(data)
        if self._hasher is not None:
            self._hasher.update(data)
        elif self._left <= 0:
            _finish_source(self._reader, self._length, self._what)
        return data


def _enforces(reader: RawStream, digest: Digest | None) -> bool:
    """Whether ``reader`` is one-shot and will itself refuse to end unless it hashes to ``digest``.

    Only non-seekable readers qualify: a body that is replayed after a seek would need the
    reader's own check to start over, which a verifying reader does not promise.
    """
    if digest is None or getattr(reader, "enforced_digest", None) != digest:
        return False
    seekable = getattr(reader, "seekable", None)
    try:
        return not (callable(seekable) and seekable())
    except (OSError, ValueError):
        return False


def _finish_source(reader: RawStream, length: int, what: str) -> None:
    """Run a self-verifying reader's end-of-stream check (it raises on a digest mismatch)."""
    if reader.read(1):
        raise SizeLimitExceededError(f"{what}: the source has more than {length} bytes")


class _ReaderBody:
    """A :class:`~ocistore_reg.http.BodySource` over the caller's reader."""

    def __init__(
        self, reader: RawStream, length: int, algorithm: str, start: int | None, what: str
    ) -> None:
        self._reader = reader
        self._length = length
        self._algorithm = algorithm
        self._start = start
        self._what = what
        self._opened = False
        self.hasher = Hasher(algorithm)
        self.verified_by_source = False

    @property
    def replayable(self) -> bool:
        return not self._opened or self._start is not None

    def open(self) -> _SizedReader:
        if self._opened:
            assert self._start is not None
            _seek(self._reader, self._start)
        self._opened = True
        self.hasher = Hasher(self._algorithm)
        hasher = None if self.verified_by_source else self.hasher
        return _SizedReader(self._reader, self._length, hasher, self._what)


def _tell(reader: RawStream) -> int | None:
    """The reader's position if it can seek back to it, else None."""
    seekable, tell = getattr(reader, "seekable", None), getattr(reader, "tell", None)
    try:
        if not (callable(seekable) and seekable() and callable(tell)):
            return None
        position = tell()
    except (OSError, ValueError):
        return None
    return position if isinstance(position, int) else None


def _seek(reader: RawStream, position: int) -> None:
    """Rewind to ``position``, which :func:`_tell` returned (so the reader can seek)."""
    reader.seek(position)  # type: ignore[attr-defined]


def _read_full(reader: RawStream, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at end of stream (pipes return short reads)."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        data = reader.read(size - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def blob_put(
    t: Transport, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
) -> tuple[Digest, int]:
    upload = _Upload(t, ref, f"upload blob {digest or '(digest not given)'} to {ref.location}")
    if digest is not None and length is not None and upload.mount_probe(digest):
        return digest, length
    start = _tell(reader)
    blob_max = t.config.blob_max
    if digest is not None and length is not None and (blob_max is None or length <= blob_max):
        try:
            upload.put_whole(digest, reader, length)
            return digest, length
        except (RegistryError, TransportError) as exc:
            upload.cancel()
            if start is None or set(getattr(exc, "codes", ())) & _CONTENT_CODES:
                raise
            log.info("%s: single PUT failed (%s); retrying in chunks", upload.what, exc)
            _seek(reader, start)
        except BaseException:
            upload.cancel()
            raise
    try:
        return upload.put_chunks(digest, reader, length)
    except BaseException:
        upload.cancel()
        raise


class _Upload:
    """One blob upload: the session URL moves with every answer that carries a ``Location``."""

    def __init__(self, t: Transport, ref: Ref, what: str) -> None:
        self.t = t
        self.ref = ref
        self.what = what
        self.location = ""
        self.min_chunk = 0
        self._scopes = (scopes.push(ref.repository),)

    def _request(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> requests.Response:
        return self.t.request(
            method, url, what=self.what, scopes=self._scopes, headers=headers, **kw
        )

    def _session_from(self, response: requests.Response) -> None:
        self.location = resolve(response.url, response.headers.get("Location", ""))
        floor = response.headers.get("OCI-Chunk-Min-Length", "").strip()
        self.min_chunk = min(int(floor), MAX_CHUNK) if floor.isdigit() else 0

    def _follow(self, response: requests.Response) -> None:
        if response.headers.get("Location"):
            self.location = resolve(response.url, response.headers["Location"])

    def mount_probe(self, digest: Digest) -> bool:
        """True when the registry already has the blob; a 202 session is kept for the upload."""
        url = add_query(self.t.repo_url(self.ref.repository, "blobs/uploads/"), mount=str(digest))
        try:
            response = self._request("POST", url, retry=False)
        except TransportError:
            return False
        response.close()
        if response.status_code == 201:
            return True
        if response.status_code == 202 and response.headers.get("Location"):
            self._session_from(response)
        return False

    def open(self) -> None:
        """Start a session unless the mount probe left one open."""
        if self.location:
            return
        response = self._request("POST", self.t.repo_url(self.ref.repository, "blobs/uploads/"))
        if response.status_code != 202:
            raise_for(response, f"{self.what}: opening an upload session")
        response.close()
        if not response.headers.get("Location"):
            raise RegistryError(
                f"{self.what}: the registry opened a session without a Location", status=202
            )
        self._session_from(response)

    def cancel(self) -> None:
        if self.location:
            cancel_upload(self.t, self.location, self.ref.repository)
            self.location = ""

    def put_whole(self, digest: Digest, reader: RawStream, length: int) -> None:
        """One PUT with the whole blob; the empty blob goes with no body at all."""
        self.open()
        body = _ReaderBody(reader, length, digest.algorithm, _tell(reader), self.what)
        body.verified_by_source = length > 0 and _enforces(reader, digest)
        response = self._request(
            "PUT",
            add_query(self.location, digest=str(digest)),
            {"Content-Type": OCTET_STREAM},
            body=body if length else b"",
        )
        hasher = body.hasher
        # A self-verifying source checked itself before its last block went out (raising on a
        # mismatch); otherwise the bytes sent are judged here, whatever the registry said.
        if not body.verified_by_source and hasher.size == length and hasher.digest() != digest:
            response.close()
            raise DigestMismatchError(
                f"{self.what}: the content hashes to {hasher.digest()}, not {digest}"
            )
        if response.status_code not in (201, 204):
            raise_for(response, self.what)
        response.close()
        self.location = ""

    def put_chunks(
        self, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        """PATCH the blob in chunks, then close the session with the computed digest."""
        self.open()
        chunk_size = max(self.t.config.blob_chunk, self.min_chunk, 1)
        hasher = Hasher(digest.algorithm if digest is not None else "sha256")
        # A self-verifying source is checked once, before the session is closed.
        trusted = _enforces(reader, digest)
        offset = 0
        while length is None or offset < length:
            want = chunk_size if length is None else min(chunk_size, length - offset)
            chunk = _read_full(reader, want)
            if chunk:
                if not trusted:
                    hasher.update(chunk)
                self._patch(chunk, offset)
                offset += len(chunk)
            if len(chunk) < want:
                if length is not None:
                    raise ShortReadError(
                        f"{self.what}: the source ended after {offset} of {length} bytes"
                    )
                break
        if trusted:
            assert digest is not None
            _finish_source(reader, offset, self.what)
            actual = digest
        else:
            if length is not None:  # the declared length is a promise: more bytes is an error
                _finish_source(reader, offset, self.what)
            actual = hasher.digest()
        if digest is not None and actual != digest:
            raise DigestMismatchError(f"{self.what}: the content hashes to {actual}, not {digest}")
        response = self._request(
            "PUT",
            add_query(self.location, digest=str(actual)),
            {"Content-Type": OCTET_STREAM},
            body=b"",
        )
        if response.status_code not in (201, 204):
            raise_for(response, f"{self.what}: closing the upload")
        response.close()
        self.location = ""
        return actual, offset

    def _patch(self, chunk: bytes, offset: int) -> None:
        """Send ``chunk`` (which starts at ``offset``) until the registry has all of it."""
        end = offset + len(chunk) - 1
        sent_from = 0
        for _ in range(_MAX_RESYNC + 1):
            start = offset + sent_from
            try:
                response = self._request(
                    "PATCH",
                    self.location,
                    {"Content-Type": OCTET_STREAM, "Content-Range": f"{start}-{end}"},
                    body=chunk[sent_from:],
                )
            except TransportError as exc:
                # The connection broke mid-chunk: ask the session how much it got.
                log.info("%s: sending bytes %d-%d failed (%s)", self.what, start, end, exc)
                confirmed = self._status()
            else:
                if response.status_code in (201, 202):  # 201: ECR
                    response.close()
                    self._follow(response)
                    confirmed = parse_upload_range(response.headers.get("Range"))
                    if confirmed is None or confirmed >= end:
                        return
                elif response.status_code == 416:
                    response.close()
                    confirmed = self._status()
                else:
                    raise_for(response, f"{self.what}: sending bytes {start}-{end}")
            have = confirmed + 1 if confirmed is not None else offset
            if have < offset or have > end + 1:
                raise RegistryError(
                    f"{self.what}: the registry holds {have} bytes, which the upload cannot "
                    f"continue from (this chunk covers {offset}-{end})"
                )
            if have == end + 1:
                return
            log.info("%s: the registry has %d bytes, resending from there", self.what, have)
            sent_from = have - offset
        raise RegistryError(f"{self.what}: the registry does not accept bytes {offset}-{end}")

    def _status(self) -> int | None:
        """The inclusive end offset the session holds (``GET`` → 204 + ``Range``)."""
        response = self._request("GET", self.location)
        if response.status_code not in (200, 204):
            raise_for(response, f"{self.what}: reading the upload status after HTTP 416")
        response.close()
        self._follow(response)
        return parse_upload_range(response.headers.get("Range"))
