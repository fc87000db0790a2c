"""Translate HTTP answers and ``requests`` failures into the core error tree.

This is the boundary the style guide asks for: nothing above it sees a ``requests`` exception or
a bare status code. Messages say what was being done to which reference, what the registry
answered (the distribution-spec ``errors[].code`` and message when the body has them), and, for
the mistakes people make most, what to do next.
"""

from __future__ import annotations

import enum
import json
import ssl
from collections.abc import Callable
from typing import NoReturn
from urllib.parse import urlsplit

import requests
import urllib3

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
from ocistore.lazyre import LazyPattern
from ocistore_reg.bodies import read_upto
from ocistore_reg.retry import parse_retry_after
from ocistore_reg.urls import redact

__all__ = [
    "ERROR_BODY_LIMIT",
    "ErrorBody",
    "Failure",
    "classify",
    "raise_for",
    "read_error_body",
    "short_reason",
    "transport_error",
]

#: Error bodies are read only this far: enough for any real error list, never a whole blob.
ERROR_BODY_LIMIT = 64 * 1024
_MESSAGE_LIMIT = 300
#: Statuses whose ``Retry-After`` is carried on the error (RFC 6585 §4, RFC 9110 §10.2.3).
_RETRY_AFTER_STATUSES = frozenset({429, 503})

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
        raw = read_upto(response, ERROR_BODY_LIMIT + 1, decode=True)
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
    except (ValueError, RecursionError):
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
    retry_after = (
        parse_retry_after(response.headers.get("Retry-After"))
        if status in _RETRY_AFTER_STATUSES
        else None
    )
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
            retry_after=retry_after,
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
        retry_after=retry_after,
    )


class Failure(enum.Enum):
    """How a request failed before an answer came (see :func:`classify`)."""

    #: No connection: refused, name not resolved, unreachable, connect timeout, proxy refused,
    #: reset before the TLS handshake was done.
    CONNECT = "connect"
    #: The TLS handshake failed on its own terms: certificate, protocol, a plain-HTTP server.
    TLS = "tls"
    #: Connected and sent, but no answer within the read timeout.
    TIMEOUT = "timeout"
    #: The connection broke after it was set up (while sending, or waiting for the answer).
    LOST = "lost"


# Functions of urllib3, http.client, socket and ssl that only run while a connection is set up.
_SETUP_FRAMES = frozenset({"connect", "_new_conn", "create_connection", "_tunnel"})
_HANDSHAKE_FRAMES = frozenset(
    {"do_handshake", "ssl_wrap_socket", "_ssl_wrap_socket_and_match_hostname"}
)


def _chain(exc: BaseException, *, causes: bool = True) -> list[BaseException]:
    """``exc`` and what it wraps (``reason``, exception ``args``, and with ``causes`` also
    ``__cause__``), outside in."""
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < 16:
        item = todo.pop(0)
        if any(item is seen for seen in found):
            continue
        found.append(item)
        reason = getattr(item, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(arg for arg in item.args if isinstance(arg, BaseException))
        if causes and item.__cause__ is not None:
            todo.append(item.__cause__)
    return found


def _frames(chain: list[BaseException]) -> set[str]:
    """Names of the functions the errors of ``chain`` were raised through."""
    names: set[str] = set()
    for item in chain:
        tb = item.__traceback__
        while tb is not None:
            names.add(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
    return names


def _in_handshake(chain: list[BaseException]) -> bool:
    return bool(_frames(chain) & _HANDSHAKE_FRAMES) or any(
        isinstance(item, ssl.SSLCertVerificationError | ssl.CertificateError) for item in chain
    )


def classify(exc: BaseException) -> Failure:
    """Which phase of a request a ``requests``/``urllib3`` failure happened in.

    The exception types alone do not tell: a reset during the TLS handshake and one in the
    middle of a request body both arrive as ``ConnectionError``, and a TLS connection cut
    mid-request arrives as ``SSLError``. So the frames the error passed through are consulted
    too (``do_handshake``, ``connect``...).
    """
    chain = _chain(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.ProxyError) or any(
        isinstance(item, urllib3.exceptions.ConnectTimeoutError) for item in chain
    ):  # urllib3's NewConnectionError (refused, unresolved...) is a ConnectTimeoutError
        return Failure.CONNECT
    tls_error = any(isinstance(item, ssl.SSLError | ssl.CertificateError) for item in chain)
    if _in_handshake(chain):
        # A TLS protocol or certificate error, or else a reset: no connection was made.
        return Failure.TLS if tls_error else Failure.CONNECT
    if _frames(chain) & _SETUP_FRAMES:
        return Failure.CONNECT
    if isinstance(exc, requests.exceptions.SSLError):
        closed = any(isinstance(item, ssl.SSLEOFError | ssl.SSLZeroReturnError) for item in chain)
        return Failure.LOST if closed else Failure.TLS
    if isinstance(exc, requests.exceptions.Timeout):
        return Failure.TIMEOUT
    return Failure.LOST


def transport_error(
    exc: BaseException,
    what: str,
    url: str,
    hostname: str,
    *,
    method: str = "request",
    client_cert: bool = False,
) -> TransportError:
    """A TransportError saying in which phase the request failed (see :class:`Failure`).

    ``method`` and ``url`` are those of the request as sent (the failed hop of a redirect, if
    the exception says so); ``hostname`` is the registry, named in hints; ``client_cert`` says
    that a client certificate was presented (a lost connection then hints it may be refused).
    """
    sent = getattr(exc, "request", None)
    if sent is not None and sent.method and sent.url:
        method, url = str(sent.method), str(sent.url)
    host = urlsplit(url).netloc or hostname
    failure = classify(exc)
    reason = short_reason(exc)
    if failure is Failure.CONNECT:
        via = " through the proxy" if isinstance(exc, requests.exceptions.ProxyError) else ""
        during = " (during the TLS handshake)" if _in_handshake(_chain(exc)) else ""
        return TransportError(f"{what}: cannot connect to {host}{via}: {reason}{during}")
    if failure is Failure.TLS:
        return _tls_error(exc, what, url, host=host, hostname=hostname, reason=reason)
    if failure is Failure.TIMEOUT:
        return TransportError(
            f"{what}: timed out waiting for the answer to {method} {redact(url)}: {reason}"
        )
    hint = None
    if client_cert and any(isinstance(item, ssl.SSLEOFError) for item in _chain(exc)):
        # Under TLS 1.3 the server checks our client certificate after the client's side of the
        # handshake is done, so a refusal often arrives as a bare EOF on the first read.
        hint = (
            f"the TLS connection was closed by {host}: it may have refused our client certificate"
        )
    return TransportError(
        f"{what}: connection lost during {method} {redact(url)}: {reason}", hint=hint
    )


def _tls_error(
    exc: BaseException, what: str, url: str, *, host: str, hostname: str, reason: str
) -> TransportError:
    lowered = str(exc).lower()
    if url.startswith("https:") and any(sign in lowered for sign in _PLAIN_HTTP_SIGNS):
        return TransportError(
            f"{what}: TLS handshake with {host} failed: server gave HTTP response to HTTPS client",
            hint=f"use plain HTTP for this host (--plain-http {hostname})",
        )
    hint = None
    if "alert" in lowered and ("certificate" in lowered or "handshake failure" in lowered):
        # The *server* ended the handshake over our (missing or unknown) client certificate.
        hint = (
            f"{host} wants a TLS client certificate it trusts: set client_cert and "
            "client_key for this host"
        )
    elif "certificate" in lowered:
        hint = (
            f"the certificate of {host} is not trusted: pass its CA (ca_file), or, "
            "only for a throw-away registry, use tls='insecure'"
        )
    return TransportError(f"{what}: TLS handshake with {host} failed: {reason}", hint=hint)


# urllib3 starts its messages with the connection's repr: ``HTTPConnectionPool(host=..., ...): ``.
_CONNECTION_REPR = LazyPattern(r"^\w*Connection(?:Pool)?\([^)]*\):\s*")


def short_reason(exc: BaseException) -> str:
    """The innermost reason a urllib3/requests error wraps, without the wrappers.

    Only what the errors carry is followed, not ``__cause__``: urllib3's "Read timed out.
    (read timeout=120)" says more than the socket's "timed out" it was raised from.
    """
    reason = _chain(exc, causes=False)[-1]
    text = str(reason)
    last = reason.args[-1] if len(reason.args) > 1 else None
    if isinstance(last, str) and not isinstance(reason, OSError):
        text = last  # urllib3's ``(connection, message)`` errors
    text = _CONNECTION_REPR.sub("", text) or type(reason).__name__
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"
