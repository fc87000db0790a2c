"""Who may receive credentials: the token realm a challenge names, and "the same host".

Two rules of :mod:`ocistore_reg.auth` live here, apart from the token machinery, so they can be
read (and audited) on one page:

* a 401 is answered only when it comes from the registry host itself (default ports and Docker
  Hub's aliases count as the same host), so a CDN or a redirect target cannot ask for secrets;
* a token realm must be https, unless it is on a loopback address or the registry itself speaks
  plain http; anything else is refused with an :class:`~ocistore.errors.AuthError` before a
  single byte is sent to it;
* a token realm gets the credentials (Basic, password grant, refresh token) only when it is on
  the registry's own host name (any port: a token server often runs beside the registry), is
  Docker Hub's token server for a Hub registry, or is a host the user named in the settings. A
  realm anywhere else is asked for an anonymous token: a registry that was trusted with a token
  exchange must not be able to send the password to a host of its choosing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from ocistore.errors import AuthError

__all__ = ["Realm", "checked_realm", "credentials_may_go", "is_loopback", "netloc", "same_host"]

_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HUB_AUTH_SERVER = "auth.docker.io"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Realm:
    """Where a host's tokens come from: the resolved realm URL and the ``service``."""

    url: str
    service: str | None

    @property
    def host(self) -> str:
        return netloc(self.url)


def checked_realm(realm: str, request_url: str, hostname: str) -> str:
    """Resolve a (possibly relative) realm against the 401's URL; refuse an insecure one.

    ``hostname`` is the registry the challenge came from, named in the error.
    """
    url = urljoin(request_url, realm)
    parts = urlsplit(url)
    registry_plain = urlsplit(request_url).scheme == "http"
    if parts.scheme == "https" and parts.hostname:
        return url
    plain_ok = registry_plain or is_loopback(parts.hostname or "")
    if parts.scheme == "http" and parts.hostname and plain_ok:
        return url
    shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    raise AuthError(
        f"refusing the token realm {shown} named by registry {hostname}: "
        "a token realm must use https (unless it is on a loopback address or the "
        "registry itself uses plain http)"
    )


def credentials_may_go(realm: Realm, hostname: str, named: frozenset[str]) -> bool:
    """True if the token server ``realm`` may be sent the credentials of registry ``hostname``.

    ``named`` are the ``host[:port]`` entries of the user's settings (any port of a host
    named there counts).
    """
    realm_host = (urlsplit(realm.url).hostname or "").lower()
    mine_host, _ = _split_host_port(hostname)
    if realm_host == mine_host:
        return True
    if mine_host in _HUB_HOSTS and realm_host == _HUB_AUTH_SERVER:
        return True
    return any(_split_host_port(name)[0] == realm_host for name in named)


def same_host(url: str, hostname: str) -> bool:
    """True if ``url`` is on ``hostname`` (``host[:port]``), default ports and Hub aliases."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    mine_host, mine_port = _split_host_port(hostname)
    if host in _HUB_HOSTS and mine_host in _HUB_HOSTS:
        return True
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:
        return False
    return host == mine_host and port == (mine_port or default)


def netloc(url: str) -> str:
    """``host[:port]`` of ``url`` without any ``user:password@`` (safe to log)."""
    return urlsplit(url).netloc.rpartition("@")[2]


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _split_host_port(hostport: str) -> tuple[str, int | None]:
    text = hostport.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    return host, int(port) if port.isdigit() else None
