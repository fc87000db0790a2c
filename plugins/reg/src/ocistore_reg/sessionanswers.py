"""How an unexpected answer on a blob upload session becomes an error.

An upload session is state on the registry: a connection that breaks mid-``PATCH`` or
mid-``PUT`` can leave it advanced past what the client knows, consumed, or forgotten.
distribution then answers ``BLOB_UPLOAD_INVALID`` or ``BLOB_UPLOAD_UNKNOWN`` (often with a 404),
or 416 to a range it no longer agrees with. None of that says the blob is bad: a new session fed
from byte 0 will do, so such answers raise :class:`~ocistore.errors.UploadSessionError`, which
``blob_put`` answers with a new session when its reader can seek back, and a copy (whose reader
cannot) answers by starting the blob again.

``DIGEST_INVALID`` or ``SIZE_INVALID`` on bytes whose digest the client checked as it sent them
means they changed on the way: :class:`~ocistore.errors.DigestMismatchError` with
``remote=True``, which a copy also retries (and gives up on when the same answer repeats).
"""

from __future__ import annotations

from typing import NoReturn

import requests

from ocistore.digest import Digest
from ocistore.errors import DigestMismatchError, RegistryError, UploadSessionError
from ocistore_reg.translate import raise_for

__all__ = ["CONTENT_CODES", "SESSION_CODES", "raise_for_session"]

#: Codes that say the session is gone or out of step with the client.
SESSION_CODES = frozenset({"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"})
#: Codes that say the bytes the registry received do not match the digest or length.
CONTENT_CODES = frozenset({"DIGEST_INVALID", "SIZE_INVALID"})
_SESSION_STATUSES = frozenset({404, 416})


def raise_for_session(response: requests.Response, what: str, digest: Digest | None) -> NoReturn:
    """Raise the error for an unexpected ``response`` on the session URL (see module docstring).

    ``digest`` is the digest of the bytes as sent, already checked by the caller, or None when
    nothing was checked (then a content code stays a plain :class:`RegistryError`).
    """

    def lost(message: str) -> UploadSessionError:
        return UploadSessionError(message, status=404)

    try:
        raise_for(response, what, not_found=lost)
    except UploadSessionError:
        raise
    except RegistryError as exc:
        codes = set(exc.codes)
        if exc.status in _SESSION_STATUSES or codes & SESSION_CODES:
            raise UploadSessionError(
                str(exc), status=exc.status, codes=exc.codes, hint=exc.hint
            ) from None
        if digest is not None and codes & CONTENT_CODES:
            # No session URL in the message: it is the fingerprint of "the same mismatch again".
            found = ", ".join(sorted(codes & CONTENT_CODES))
            raise DigestMismatchError(
                f"{what}: the registry answered HTTP {exc.status} {found}, but the bytes were "
                f"sent as {digest}: they changed on the way",
                remote=True,
            ) from None
        raise
