"""Translate HTTP answers and ``requests`` failures into the core error tree.

This is the boundary the style guide asks for: nothing above it sees a ``requests`` exception or
a bare status code. Messages say what was being done to which reference, what the registry
answered (the distribution-spec ``errors[].code`` and message when the body has them), and, for
the mistakes people make most, what to do next.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NoReturn

import requests

from ocistore.errors import (
    ForbiddenError,
    NotFoundError,
    OCIStoreError,
    RateLimitError,
    RegistryError,
    TransportError,
    UnauthorizedError,
    UnsupportedError,
)
from ocistore_reg.urls import redact

__all__ = ["ERROR_BODY_LIMIT", "ErrorBody", "raise_for", "read_error_body", "transport_error"]

#: Error bodies are read only this far: enough for any real error list, never a whole blob.
ERROR_BODY_LIMIT = 64 * 1024
_MESSAGE_LIMIT = 300

# How TLS fails when the server speaks plain HTTP (OpenSSL 1.1 and 3.x wordings).
_PLAIN_HTTP_SIGNS = (
    "wrong_version_number",
    "wrong version number",
    "record layer failure",
    "http request",
    "packet length too long",
    "unknown protocol",
)


class ErrorBody:
    """The distribution error list of a response, parsed leniently (any body is accepted)."""

    def __init__(self, codes: tuple[str, ...], text: str) -> None:
        self.codes = codes
        self.text = text

    def __str__(self) -> str:
        return self.text


def read_error_body(response: requests.Response) -> ErrorBody:
    """Read at most :data:`ERROR_BODY_LIMIT` bytes and extract ``errors[].code``/``message``."""
    if response.request is not None and response.request.method == "HEAD":
        return ErrorBody((), "")
    try:
        raw = response.raw.read(ERROR_BODY_LIMIT + 1, decode_content=True) or b""
    except Exception:  # a broken error body must not hide the status
        raw = b""
    finally:
        response.close()
    truncated = len(raw) > ERROR_BODY_LIMIT
    raw = raw[:ERROR_BODY_LIMIT]
    codes: list[str] = []
    parts: list[str] = []
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list):
        for item in errors:
            if not isinstance(item, dict):
                continue
            code = str(item.get("code") or "UNKNOWN")
            codes.append(code)
            message = item.get("message")
            parts.append(f"{code}: {message}" if message else code)
    else:
        text = raw.decode("utf-8", "replace").strip()
        if text and not truncated and "<html" not in text.lower():
            parts.append(" ".join(text.split()))
    text = "; ".join(parts)
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 1] + "…"
    return ErrorBody(tuple(codes), text)


def raise_for(
    response: requests.Response,
    what: str,
    *,
    not_found: Callable[[str], OCIStoreError] | None = None,
    unsupported: bool = False,
) -> NoReturn:
    """Raise the core error for an unexpected ``response`` to the operation ``what``.

    ``not_found`` builds the error for a 404: the NotFound subclass that names the missing
    thing (blob, manifest, repository), or another error where 404 means "no such endpoint";
    ``unsupported`` maps 405 and the ``UNSUPPORTED`` code to :class:`UnsupportedError`, for
    operations a registry may have switched off (deletes).
    """
    status = response.status_code
    body = read_error_body(response)
    detail = f": {body}" if body.text else ""
    where = redact(response.url) if response.url else ""
    if status == 404 and not_found is not None:
        raise not_found(f"{what}: not found{detail}")
    if status == 401:
        raise UnauthorizedError(
            f"{what}: unauthorised (HTTP 401){detail}",
            hint="check the credentials for this registry (docker login, or the host settings); "
            "some registries also answer 401 for repositories that do not exist",
        )
    if status == 403:
        raise ForbiddenError(f"{what}: forbidden (HTTP 403){detail}")
    if unsupported and (status == 405 or "UNSUPPORTED" in body.codes):
        raise UnsupportedError(
            f"{what}: the registry refuses it (HTTP {status}){detail}",
            hint="the registry may have deletion disabled (distribution: storage.delete.enabled)",
        )
    if status == 429:
        raise RateLimitError(
            f"{what}: rate limited (HTTP 429) after retrying{detail}",
            status=status,
            codes=body.codes,
            hint="wait and try again, or authenticate to get a higher limit",
        )
    if status == 404:
        raise NotFoundError(f"{what}: not found{detail}")
    hint = None
    if "http request to an https server" in body.text.lower():
        hint = "this host speaks HTTPS: do not configure it for plain HTTP (tls='disabled')"
    raise RegistryError(
        f"{what}: unexpected HTTP {status} from {where}{detail}",
        status=status,
        codes=body.codes,
        hint=hint,
    )


def transport_error(exc: BaseException, what: str, url: str, hostname: str) -> TransportError:
    """A TransportError for a failed connection, with the plain-HTTP hint where it applies."""
    text = str(exc)
    hint = None
    if isinstance(exc, requests.exceptions.SSLError):
        lowered = text.lower()
        if url.startswith("https:") and any(sign in lowered for sign in _PLAIN_HTTP_SIGNS):
            return TransportError(
                f"{what}: TLS handshake with {hostname} failed: "
                "server gave HTTP response to HTTPS client",
                hint=f"use plain HTTP for this host (--plain-http {hostname})",
            )
        if "certificate" in lowered:
            hint = (
                f"the certificate of {hostname} is not trusted: pass its CA (ca_file), or, "
                "only for a throw-away registry, use tls='insecure'"
            )
        return TransportError(
            f"{what}: TLS failure talking to {hostname}: {_short(exc)}", hint=hint
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return TransportError(f"{what}: timed out talking to {hostname} ({redact(url)})")
    return TransportError(f"{what}: cannot reach {hostname} ({redact(url)}): {_short(exc)}")


def _short(exc: BaseException) -> str:
    """The innermost reason of a urllib3/requests error chain, without the retry wrapper."""
    reason: BaseException = exc
    seen = 0
    while seen < 5:
        seen += 1
        inner = getattr(reason, "reason", None)
        if isinstance(inner, BaseException):
            reason = inner
            continue
        if reason.args and isinstance(reason.args[0], BaseException):
            reason = reason.args[0]
            continue
        break
    text = str(reason) or type(reason).__name__
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"
