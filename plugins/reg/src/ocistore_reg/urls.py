"""Pure helpers for the URLs and headers the distribution API passes around.

Registries hand out URLs in ``Location`` and ``Link`` headers, relative or absolute, sometimes
with query parameters that must survive untouched (distribution's ``_state=``). These functions
resolve and extend such URLs without re-encoding what the server wrote, and parse the range
headers of uploads and partial downloads.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import quote, urlencode, urljoin, urlsplit

from ocistore.lazyre import LazyPattern

__all__ = [
    "add_query",
    "api_host",
    "is_local_host",
    "next_link",
    "origin",
    "parse_content_range",
    "parse_upload_range",
    "redact",
    "resolve",
]

#: Docker Hub is named ``docker.io`` in references but served from this host.
DOCKER_HUB_API = "registry-1.docker.io"

# RFC 8288: <target> followed by ;-separated params whose quoted values may hold , and ;
_PARAM = r'\s*;\s*[a-zA-Z*]+\s*(?:=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?'
_LINK = LazyPattern(rf"<([^>]*)>((?:{_PARAM})*)")
_LINK_PARAM = LazyPattern(r';\s*([a-zA-Z*]+)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^;,\s]*)))?')
_UPLOAD_RANGE = LazyPattern(r"^\s*(?:bytes=)?(\d+)-(\d+)\s*$")
_CONTENT_RANGE = LazyPattern(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


def api_host(registry: str) -> str:
    """The host to connect to for a reference's registry name."""
    return DOCKER_HUB_API if registry == "docker.io" else registry


def resolve(base: str, location: str) -> str:
    """Resolve a ``Location``/``Link`` value against the URL of the request that returned it."""
    return urljoin(base, location.strip())


def add_query(url: str, params: Mapping[str, str | int] | None = None, /, **more: str) -> str:
    """Append parameters to ``url``, keeping its existing query exactly as the server wrote it."""
    items = {**(params or {}), **more}
    if not items:
        return url
    url = url.split("#", 1)[0]
    extra = urlencode({k: str(v) for k, v in items.items()}, quote_via=quote, safe=":/")
    return f"{url}{'&' if urlsplit(url).query else '?'}{extra}"


def origin(url: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` in lower case, the unit credentials are bound to."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    netloc = host if port is None or port == default else f"{host}:{port}"
    return parts.scheme.lower(), netloc


def is_local_host(url: str) -> bool:
    """True for loopback, link-local and ``localhost`` targets (refused as redirect targets)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return addr.is_loopback or addr.is_link_local or addr.is_unspecified


def next_link(headers: Mapping[str, str], request_url: str) -> str | None:
    """The ``rel="next"`` target of an RFC 8288 ``Link`` header, resolved, or None."""
    value = headers.get("Link") or headers.get("link")
    if not value:
        return None
    for m in _LINK.finditer(value):
        for p in _LINK_PARAM.finditer(m.group(2)):
            if p.group(1).lower() == "rel":
                rels = (p.group(2) if p.group(2) is not None else p.group(3) or "").split()
                if "next" in (r.lower() for r in rels):
                    return resolve(request_url, m.group(1))
    return None


def parse_upload_range(value: str | None) -> int | None:
    """End offset (inclusive) from an upload ``Range`` header (``0-N`` or ``bytes=0-N``)."""
    if not value:
        return None
    m = _UPLOAD_RANGE.match(value)
    return int(m.group(2)) if m else None


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``(start, end, total)`` from ``Content-Range: bytes a-b/total`` (total None for ``*``)."""
    if not value:
        return None
    m = _CONTENT_RANGE.match(value)
    if not m:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


def redact(url: str) -> str:
    """A URL fit for logs and messages: no query (signed URLs carry credentials there)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}" + ("?…" if parts.query else "")
