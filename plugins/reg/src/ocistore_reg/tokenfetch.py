"""Getting a bearer token from a registry's token server.

Three ways, tried in this order (what docker and containerd do):

* an OAuth2 ``POST grant_type=refresh_token`` when an identity (refresh) token is known;
* an OAuth2 ``POST grant_type=password`` when asked for (``password_grant``) and a username and
  password are known;
* the classic ``GET`` with Basic auth, or anonymous without a password; also the fallback when
  the server has no POST endpoint (404/405).

Secrets stay out of harm's way: a request carrying them never follows a redirect (a 307/308
would replay them to wherever it points), and no message or log line quotes them. A refresh
token an OAuth2 server rotates is kept for the next renewal.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from ocistore.errors import (
    AuthError,
    ForbiddenError,
    RateLimitError,
    RegistryError,
    TransportError,
    UnauthorizedError,
)
from ocistore.lazyre import LazyPattern
from ocistore_reg.bodies import close, read_limited
from ocistore_reg.challenge import Scope
from ocistore_reg.credentials import Credential
from ocistore_reg.realms import Realm
from ocistore_reg.retry import parse_retry_after
from ocistore_reg.tokencache import ChallengeKey, Token

__all__ = [
    "CLIENT_ID",
    "EXPIRY_MARGIN",
    "MIN_EXPIRES_IN",
    "MIN_USABLE",
    "TOKEN_LIMIT",
    "TokenFetcher",
    "basic_header",
]

# One logger for all of the authenticator's modules, as when they were one module.
log = logging.getLogger("ocistore_reg.auth")

CLIENT_ID = "ocistore"
#: The most bytes read from a token server's answer (a JWT is a few KiB); a bigger answer is
#: refused before it can fill memory.
TOKEN_LIMIT = 1024 * 1024
#: Renew this long before the server's expiry, so a token does not die in flight.
EXPIRY_MARGIN = 5.0
#: The token spec's default and minimum lifetime.
MIN_EXPIRES_IN = 60
#: A token is used at least this long even if a skewed ``issued_at`` says it is already old.
MIN_USABLE = 10.0


def basic_header(credential: Credential | None, hostname: str) -> str:
    """``Basic <base64 user:password>``; :class:`UnauthorizedError` without a password."""
    if credential is None or not credential.has_basic:
        raise UnauthorizedError(
            f"registry {hostname} asks for a username and password, and none are configured",
            hint=f"log in with `docker login {hostname}` or configure credentials",
        )
    pair = f"{credential.username}:{credential.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


class TokenFetcher:
    """Token requests for the registry ``hostname``, over the registry's own session.

    ``verify``/``cert`` are the registry host's TLS settings, used for the token server too;
    ``clock`` (monotonic seconds) dates the tokens, as the cache expects.
    """

    def __init__(
        self,
        hostname: str,
        session: requests.Session,
        credential: Credential | None,
        *,
        verify: bool | str,
        cert: str | tuple[str, str] | None,
        user_agent: str,
        timeout: float,
        password_grant: bool,
        clock: Callable[[], float],
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
        self._refresh_tokens: dict[Realm, str] = {}

    def __repr__(self) -> str:
        return f"TokenFetcher({self.hostname!r}, credential={self._credential!r})"

    def fetch(
        self, realm: Realm, wanted: tuple[Scope, ...], challenge: ChallengeKey | None
    ) -> Token:
        """A new token from ``realm`` for ``wanted``; raises the core error for any failure."""
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
        try:
            return self._parse_token(response, realm, wanted, challenge, rotate=rotate)
        finally:
            close(response)

    def _post(
        self, realm: Realm, scopes: list[str], grant: dict[str, str]
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

    def _get(self, realm: Realm, scopes: list[str]) -> requests.Response:
        """The classic token request: Basic auth if we can, anonymous otherwise."""
        params: list[tuple[str, str]] = []
        if realm.service:
            params.append(("service", realm.service))
        params.extend(("scope", scope) for scope in scopes)
        cred = self._credential
        headers: dict[str, str] = {}
        if cred is not None and cred.has_basic:
            headers["Authorization"] = basic_header(cred, self.hostname)
            params.append(("account", cred.username or ""))
        return self._request(
            "GET", realm, params=params, headers=headers, allow_redirects=not headers
        )

    def _request(
        self,
        method: str,
        realm: Realm,
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
                stream=True,  # the body is read bounded (_parse_token), never whole
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
        realm: Realm,
        wanted: tuple[Scope, ...],
        challenge: ChallengeKey | None,
        *,
        rotate: bool,
    ) -> Token:
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
            raise RateLimitError(
                f"{whom} is rate limiting (HTTP 429)",
                status=429,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if 300 <= status < 400:
            raise AuthError(f"{whom} answered a redirect (HTTP {status}); not following it")
        if status != 200:
            raise RegistryError(f"{whom} answered HTTP {status}", status=status)
        raw = read_limited(response, TOKEN_LIMIT, timeout=self._timeout)
        if raw is None:
            raise AuthError(f"{whom} answered more than {TOKEN_LIMIT} bytes; not a token")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
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
        return Token(
            value=value,
            realm=realm,
            scopes=wanted,
            usable_until=now + _lifetime(body),
            fetched_at=now,
            challenge=challenge,
        )


def _first_text(body: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    return None


_FRACTION = LazyPattern(r"(\.\d{6})\d+")


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
