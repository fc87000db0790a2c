"""Reading small answer bodies (manifests, pages, tokens, errors) bounded in size and in time.

A socket timeout bounds each read, not the whole body: a server that sends one byte a second
never trips it, and a body read with ``read(n)`` waits for all ``n`` bytes. So bodies are read
with ``read1`` (whatever one receive brings) against a deadline for the whole body, and against
a size limit, and the connection is dropped as soon as either is passed. The deadline is the
``body_timeout`` reg option, stamped on each answer by the transport (:func:`stamp`), so code
that only holds the answer (``raise_for``) still honours it.
"""

from __future__ import annotations

import time

import requests
import urllib3

from ocistore.errors import TransportError
from ocistore_reg.urls import redact

__all__ = ["DEFAULT_BODY_TIMEOUT", "close", "read_limited", "read_upto", "stamp"]

#: Seconds for a whole small body when the answer carries no stamp (the option's default).
DEFAULT_BODY_TIMEOUT = 300.0
_ATTR = "ocistore_body_timeout"
_BLOCK = 1024 * 1024


def stamp(response: requests.Response, timeout: float) -> requests.Response:
    """Record how long reading ``response``'s body may take, for the readers below."""
    setattr(response, _ATTR, timeout)
    return response


def _timeout_of(response: requests.Response) -> float:
    value = getattr(response, _ATTR, None)
    return float(value) if isinstance(value, int | float) else DEFAULT_BODY_TIMEOUT


def read_upto(
    response: requests.Response,
    limit: int,
    *,
    decode: bool = False,
    timeout: float | None = None,
) -> bytes:
    """At most ``limit`` bytes of the body; ``TransportError`` if they take over the deadline.

    Does not close the answer (the callers do).
    """
    raw = response.raw
    if not isinstance(raw, urllib3.BaseHTTPResponse):  # built in memory (tests, adapters)
        data = response.content if raw is None else raw.read(limit)
        return (data or b"")[:limit]
    budget = _timeout_of(response) if timeout is None else timeout
    deadline = time.monotonic() + budget
    chunks: list[bytes] = []
    total = 0
    try:
        while total < limit:
            chunk = raw.read1(min(_BLOCK, limit - total), decode_content=decode)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if time.monotonic() > deadline and total < limit:
                raise TransportError(
                    f"timed out while reading the answer from {redact(response.url)}: "
                    f"{total} bytes in {budget:g} s (the body_timeout reg option)"
                )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        timed_out = isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError)
        what = "timed out" if timed_out else "connection lost"
        raise TransportError(
            f"{what} while reading the answer from {redact(response.url)}: "
            f"{type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    return b"".join(chunks)


def read_limited(
    response: requests.Response, limit: int, *, timeout: float | None = None
) -> bytes | None:
    """The whole body, or None when it is longer than ``limit`` bytes (read stops there).

    The answer is closed either way.
    """
    try:
        data = read_upto(response, limit + 1, timeout=timeout)
    finally:
        close(response)
    return None if len(data) > limit else data


def close(response: requests.Response) -> None:
    """Release the connection; an answer built in memory has none to release."""
    if response.raw is not None:
        response.close()
