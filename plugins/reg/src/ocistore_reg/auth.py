"""Per-registry authentication: Basic, Bearer tokens and the 401 dance.

The transport asks :meth:`Authenticator.headers_for` before each request and calls
:meth:`Authenticator.handle_challenge` on a 401. Once a host has shown how it authenticates, the
right header (a cached token, or a token fetched right away) goes out pre-emptively, so uploads
are not sent twice and each new repository costs no extra 401 round trip.

Security rules kept here rather than in the transport, so they cannot be forgotten:

* credentials go only to the registry host and to the token realm its own challenge named;
* a realm must be https unless it is a loopback host or the registry itself speaks plain http;
* token requests carrying secrets do not follow redirects; secrets never reach logs or errors.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import urljoin, urlsplit

import requests

from ocistore.errors import (
    AuthError,
    ForbiddenError,
    RateLimitError,
    RegistryError,
    TransportError,
    UnauthorizedError,
)
from ocistore_reg.challenge import Challenge, Scope, merge_scopes, parse_challenges, scopes_cover
from ocistore_reg.credentials import Credential

__all__ = ["Authenticator"]

log = logging.getLogger(__name__)

CLIENT_ID = "ocistore"
#: Renew this long before the server's expiry, so a token does not die in flight.
EXPIRY_MARGIN = 5.0
#: The token spec's default and minimum lifetime.
MIN_EXPIRES_IN = 60
#: A token is used at least this long even if a skewed ``issued_at`` says it is already old.
MIN_USABLE = 10.0
#: A token rejected with the very challenge it was fetched for, within this many seconds, is
#: not renewed again (the retry loop guard); after that a renewal is worth one more try.
RECENT = 60.0
_MAX_TOKENS = 64
_LOCK_STRIPES = 32
_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ChallengeKey: TypeAlias = tuple[str, tuple[tuple[str, str], ...], str | None]


@dataclass(frozen=True)
class _Realm:
    """Where a host's tokens come from: the resolved realm URL and the ``service``."""

    url: str
    service: str | None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.rpartition("@")[2]


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)  # a bearer token is a secret too
    realm: _Realm
    scopes: tuple[Scope, ...]
    usable_until: float
    fetched_at: float
    #: The challenge this token answered (None when fetched pre-emptively): a 401 repeating that
    #: challenge means a retry would fail again.
    challenge: _ChallengeKey | None

    @property
    def header(self) -> str:
        return f"Bearer {self.value}"


class Authenticator:
    """Authentication state for one registry host, shared by all threads talking to it.

    ``hostname`` is the ``host[:port]`` requests are sent to; 401s from any other host are not
    answered (Docker Hub's aliases count as one host). ``password_grant`` makes a username and
    password go to the token server as an OAuth2 ``POST grant_type=password`` instead of a GET
    with Basic auth. ``clock`` (monotonic seconds) exists for tests.
    """

    def __init__(
        self,
        hostname: str,
        session: requests.Session,
        credential: Credential | None,
        *,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        user_agent: str = "ocistore",
        timeout: float = 30.0,
        password_grant: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hostname = hostname
        self._session = session
        self._credential = credential
        self._verify = verify
        self._cert = cert
        self._user_agent = user_agent
        self._timeout = timeout
        self._password_grant = password_grant
        self._clock = clock
        self._lock = threading.Lock()
        self._fetch_locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        self._mode: str | None = None  # "basic" or "bearer" once the host has said
        self._realm: _Realm | None = None
        self._tokens: list[_Token] = []
        self._refresh_tokens: dict[_Realm, str] = {}

    def __repr__(self) -> str:
        cred = self._credential
        return f"Authenticator({self.hostname!r}, mode={self._mode!r}, credential={cred!r})"

    # -- the transport's interface -----------------------------------------------------------

    def headers_for(self, scopes: Sequence[str]) -> dict[str, str]:
        """The ``Authorization`` header to send up front for a request needing ``scopes``.

        Empty until the host has challenged once (a registry token is always sent). With a
        known Bearer realm this may fetch a token, so it can raise what token fetches raise.
        """
        cred = self._credential
        if cred is not None and cred.registry_token:
            return {"Authorization": f"Bearer {cred.registry_token}"}
        wanted = merge_scopes(scopes)
        with self._lock:
            mode, realm = self._mode, self._realm
            if mode == "basic":
                return {"Authorization": self._basic_header()}
            if mode != "bearer" or realm is None:
                return {}
            token = self._cached(realm, wanted, avoid=None)
        if token is None:
            token = self._obtain(realm, wanted, challenge=None, avoid=None)
        return {"Authorization": token.header}

    def handle_challenge(self, response: requests.Response, scopes: Sequence[str]) -> bool:
        """React to a 401: True if a retry may succeed, False if it would fail the same way.

        Raises :class:`UnauthorizedError` when the host wants Basic auth and no username and
        password are configured, and :class:`AuthError` for an unsafe realm.
        """
        if not self._same_host(response.url):
            log.debug("not answering a 401 from %s for %s", _netloc(response.url), self.hostname)
            return False
        request = getattr(response, "request", None)
        sent = request.headers.get("Authorization") if request is not None else None
        challenges = parse_challenges(_challenge_values(response))
        cred = self._credential
        if cred is not None and cred.registry_token:
            # A registry token is used as-is; there is nothing to exchange or renew.
            return sent != f"Bearer {cred.registry_token}"
        bearer = next((c for c in challenges if c.scheme == "bearer" and c.realm), None)
        if bearer is not None:
            return self._answer_bearer(bearer, response.url, scopes, sent)
        if any(c.scheme == "basic" for c in challenges):
            return self._answer_basic(sent)
        log.debug("no usable challenge in a 401 from %s", self.hostname)
        return False

    # -- Basic ---------------------------------------------------------------------------------

    def _basic_header(self) -> str:
        cred = self._credential
        if cred is None or not cred.has_basic:
            raise UnauthorizedError(
                f"registry {self.hostname} asks for a username and password, "
                "and none are configured",
                hint=f"log in with `docker login {self.hostname}` or configure credentials",
            )
        pair = f"{cred.username}:{cred.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _answer_basic(self, sent: str | None) -> bool:
        header = self._basic_header()
        with self._lock:
            self._mode = "basic"
        return sent != header

    # -- Bearer --------------------------------------------------------------------------------

    def _answer_bearer(
        self, challenge: Challenge, url: str, scopes: Sequence[str], sent: str | None
    ) -> bool:
        realm = _Realm(self._checked_realm(challenge.realm or "", url), challenge.service)
        wanted = merge_scopes([*scopes, *_valid_scopes(challenge.scopes)])
        with self._lock:
            self._mode, self._realm = "bearer", realm
            used = self._token_by_header(sent)
            if used is not None and used.realm == realm:
                stale = challenge.error == "invalid_token" or not self._usable(used)
                if stale:
                    self._tokens.remove(used)
                    if used.challenge == challenge.key and self._recent(used):
                        return False  # a fresh token for this very challenge failed already
                elif scopes_cover(used.scopes, wanted):
                    # The token server already gave what it will give for these scopes.
                    return False
            cached = self._cached(realm, wanted, avoid=sent)
        if cached is not None:
            return True  # another thread fetched a suitable token meanwhile
        token = self._obtain(realm, wanted, challenge=challenge.key, avoid=sent)
        return token.header != sent

    def _checked_realm(self, realm: str, request_url: str) -> str:
        """Resolve a relative realm and refuse to send anything to an insecure one."""
        url = urljoin(request_url, realm)
        parts = urlsplit(url)
        registry_plain = urlsplit(request_url).scheme == "http"
        if parts.scheme == "https" and parts.hostname:
            return url
        plain_ok = registry_plain or _is_loopback(parts.hostname or "")
        if parts.scheme == "http" and parts.hostname and plain_ok:
            return url
        shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        raise AuthError(
            f"refusing the token realm {shown} named by registry {self.hostname}: "
            "a token realm must use https (unless it is on a loopback address or the "
            "registry itself uses plain http)"
        )

    def _recent(self, token: _Token) -> bool:
        """Fetched so recently that failing again means the server will not take it."""
        return self._clock() - token.fetched_at < RECENT

    def _usable(self, token: _Token) -> bool:
        return self._clock() < token.usable_until

    def _token_by_header(self, header: str | None) -> _Token | None:
        if not header:
            return None
        return next((t for t in self._tokens if t.header == header), None)

    def _cached(self, realm: _Realm, wanted: tuple[Scope, ...], avoid: str | None) -> _Token | None:
        """The newest usable token from ``realm`` covering ``wanted`` (lock held)."""
        for token in reversed(self._tokens):
            if (
                token.realm == realm
                and token.header != avoid
                and self._usable(token)
                and scopes_cover(token.scopes, wanted)
            ):
                return token
        return None

    def _obtain(
        self,
        realm: _Realm,
        wanted: tuple[Scope, ...],
        *,
        challenge: _ChallengeKey | None,
        avoid: str | None,
    ) -> _Token:
        """Fetch a token, unless another thread did while we waited for the stripe lock."""
        stripe = self._fetch_locks[hash((realm, wanted)) % _LOCK_STRIPES]
        with stripe:
            with self._lock:
                found = self._cached(realm, wanted, avoid=avoid)
            if found is not None:
                return found
            token = self._fetch(realm, wanted, challenge)
            with self._lock:
                self._store(token)
            return token

    def _store(self, token: _Token) -> None:
        self._tokens = [t for t in self._tokens if self._usable(t)]
        self._tokens.append(token)
        if len(self._tokens) > _MAX_TOKENS:
            del self._tokens[: len(self._tokens) - _MAX_TOKENS]

    # -- token server --------------------------------------------------------------------------

    def _fetch(
        self, realm: _Realm, wanted: tuple[Scope, ...], challenge: _ChallengeKey | None
    ) -> _Token:
        scope_list = [s.render() for s in wanted]
        cred = self._credential
        log.debug(
            "fetching a token for %s from %s (scopes: %s)",
            self.hostname,
            realm.host,
            " ".join(scope_list) or "none",
        )
        response: requests.Response | None = None
        with self._lock:
            refresh = self._refresh_tokens.get(realm)
        if refresh is None and cred is not None:
            refresh = cred.identity_token
        if refresh:
            response = self._post(
                realm, scope_list, {"grant_type": "refresh_token", "refresh_token": refresh}
            )
        elif cred is not None and cred.has_basic and self._password_grant:
            form = {
                "grant_type": "password",
                "username": cred.username or "",
                "password": cred.password or "",
            }
            response = self._post(realm, scope_list, form)
        rotate = response is not None and bool(refresh)
        if response is None:
            response = self._get(realm, scope_list)
        return self._parse_token(response, realm, wanted, challenge, rotate=rotate)

    def _post(
        self, realm: _Realm, scopes: list[str], grant: dict[str, str]
    ) -> requests.Response | None:
        """OAuth2 token request; None when the server has no POST endpoint (404/405)."""
        form = {**grant, "client_id": CLIENT_ID}
        if realm.service:
            form["service"] = realm.service
        if scopes:
            form["scope"] = " ".join(scopes)
        # Never follow a redirect: a 307/308 would replay the form, secrets included.
        response = self._request("POST", realm, data=form, allow_redirects=False)
        if response.status_code in (404, 405):
            log.debug("token server %s has no OAuth2 POST; falling back to GET", realm.host)
            response.close()
            return None
        return response

    def _get(self, realm: _Realm, scopes: list[str]) -> requests.Response:
        """The classic token request: Basic auth if we can, anonymous otherwise."""
        params: list[tuple[str, str]] = []
        if realm.service:
            params.append(("service", realm.service))
        params.extend(("scope", scope) for scope in scopes)
        cred = self._credential
        headers: dict[str, str] = {}
        if cred is not None and cred.has_basic:
            headers["Authorization"] = self._basic_header()
            params.append(("account", cred.username or ""))
        return self._request(
            "GET", realm, params=params, headers=headers, allow_redirects=not headers
        )

    def _request(
        self,
        method: str,
        realm: _Realm,
        *,
        headers: dict[str, str] | None = None,
        allow_redirects: bool,
        **kwargs: Any,
    ) -> requests.Response:
        all_headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
        all_headers.update(headers or {})
        try:
            return self._session.request(
                method,
                realm.url,
                headers=all_headers,
                verify=self._verify,
                cert=self._cert,
                timeout=self._timeout,
                allow_redirects=allow_redirects,
                # The session ignores the environment (no .netrc near secrets), so proxies
                # from HTTPS_PROXY/NO_PROXY are applied per URL, as for registry requests.
                proxies=requests.utils.get_environ_proxies(realm.url),
                **kwargs,
            )
        except requests.RequestException as exc:
            raise TransportError(
                f"cannot reach the token server {realm.host} for registry {self.hostname}: "
                f"{type(exc).__name__}"
            ) from None

    def _parse_token(
        self,
        response: requests.Response,
        realm: _Realm,
        wanted: tuple[Scope, ...],
        challenge: _ChallengeKey | None,
        *,
        rotate: bool,
    ) -> _Token:
        status = response.status_code
        whom = f"the token server {realm.host} (for registry {self.hostname})"
        if status == 401:
            who = "the credentials" if self._credential else "an anonymous token request"
            raise UnauthorizedError(
                f"{whom} rejected {who}",
                hint=f"check the login for {self.hostname} (`docker login {self.hostname}`)",
            )
        if status == 403:
            raise ForbiddenError(f"{whom} refused a token (HTTP 403)")
        if status == 429:
            raise RateLimitError(f"{whom} is rate limiting (HTTP 429)", status=429)
        if 300 <= status < 400:
            raise AuthError(f"{whom} answered a redirect (HTTP {status}); not following it")
        if status != 200:
            raise RegistryError(f"{whom} answered HTTP {status}", status=status)
        try:
            body = response.json()
        except ValueError:
            raise AuthError(f"{whom} answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise AuthError(f"{whom} answered JSON that is not an object")
        value = _first_text(body, "access_token", "token")
        if value is None:
            raise AuthError(f"{whom} answered without a token")
        if rotate:
            # OAuth2 servers may rotate refresh tokens; keep the newest for the next renewal.
            refresh = _first_text(body, "refresh_token")
            if refresh is not None:
                with self._lock:
                    self._refresh_tokens[realm] = refresh
        now = self._clock()
        return _Token(
            value=value,
            realm=realm,
            scopes=wanted,
            usable_until=now + _lifetime(body),
            fetched_at=now,
            challenge=challenge,
        )

    # -- hosts ---------------------------------------------------------------------------------

    def _same_host(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        mine_host, mine_port = _split_host_port(self.hostname)
        if host in _HUB_HOSTS and mine_host in _HUB_HOSTS:
            return True
        default = _DEFAULT_PORTS.get(parts.scheme)
        try:
            port = parts.port or default
        except ValueError:
            return False
        return host == mine_host and port == (mine_port or default)


def _challenge_values(response: requests.Response) -> list[str]:
    """Each ``WWW-Authenticate`` line (urllib3 keeps them apart; requests joins them)."""
    raw_headers = getattr(getattr(response, "raw", None), "headers", None)
    getlist = getattr(raw_headers, "getlist", None)
    if callable(getlist):
        values = getlist("WWW-Authenticate")
        if values:
            return [str(v) for v in values]
    joined = response.headers.get("WWW-Authenticate")
    return [joined] if joined else []


def _valid_scopes(texts: Sequence[str]) -> list[Scope]:
    """The challenge's scopes we can parse; a server's odd scope is skipped, not fatal."""
    found: list[Scope] = []
    for text in texts:
        try:
            found.append(Scope.parse(text))
        except ValueError:
            log.debug("ignoring malformed scope in a challenge: %r", text)
    return found


def _first_text(body: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    return None


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _lifetime(body: dict[str, Any]) -> float:
    """Seconds the token may be used: ``expires_in`` (>= 60) from ``issued_at`` or receipt."""
    expires_in = body.get("expires_in")
    seconds = (
        float(expires_in)
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
        else MIN_EXPIRES_IN
    )
    seconds = max(seconds, MIN_EXPIRES_IN)
    issued = body.get("issued_at")
    if isinstance(issued, str) and issued:
        try:
            # Go writes nanoseconds; Python reads at most microseconds.
            when = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", issued))
        except ValueError:
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            seconds -= max(0.0, time.time() - when.timestamp())
    return max(seconds - EXPIRY_MARGIN, MIN_USABLE)


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


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]


def _is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
