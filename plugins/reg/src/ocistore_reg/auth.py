"""Per-registry authentication: Basic, Bearer tokens and the 401 dance.

The transport asks :meth:`Authenticator.headers_for` before each request and calls
:meth:`Authenticator.handle_challenge` on a 401. Once a host has shown how it authenticates, the
right header (a cached token, or a token fetched right away) goes out pre-emptively, so uploads
are not sent twice and each new repository costs no extra 401 round trip.

Security rules kept on the auth side rather than in the transport, so they cannot be forgotten:

* credentials go only to the registry host and to a token realm its challenge named on the
  same host name (or Hub's, or a host the user named); other realms get anonymous requests;
* a realm must be https unless it is a loopback host or the registry itself speaks plain http;
* token requests carrying secrets do not follow redirects; secrets never reach logs or errors.

This module is the facade and decides *when*; the parts live beside it:

* :mod:`ocistore_reg.realms` - which 401s are answered, and which realms may get credentials;
* :mod:`ocistore_reg.tokencache` - the tokens a host handed out, their expiry and scopes;
* :mod:`ocistore_reg.tokenfetch` - the token server requests (GET, OAuth2 POST) and answers;
* :mod:`ocistore_reg.challenge` - parsing ``WWW-Authenticate`` and scopes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import requests

from ocistore_reg.challenge import Challenge, Scope, merge_scopes, parse_challenges, scopes_cover
from ocistore_reg.credentials import Credential
from ocistore_reg.realms import Realm, checked_realm, netloc, same_host
from ocistore_reg.tokencache import ChallengeKey, Token, TokenCache
from ocistore_reg.tokenfetch import TokenFetcher, basic_header

__all__ = ["Authenticator"]

log = logging.getLogger(__name__)

_LOCK_STRIPES = 32


class Authenticator:
    """Authentication state for one registry host, shared by all threads talking to it.

    ``hostname`` is the ``host[:port]`` requests are sent to; 401s from any other host are not
    answered (Docker Hub's aliases count as one host). ``password_grant`` makes a username and
    password go to the token server as an OAuth2 ``POST grant_type=password`` instead of a GET
    with Basic auth. ``trusted_hosts`` are the hosts the user named, whose token servers may get
    the credentials as the registry's own host name does. ``clock`` exists for tests.
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
        trusted_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.hostname = hostname
        self._credential = credential
        self._fetcher = TokenFetcher(
            hostname,
            session,
            credential,
            verify=verify,
            cert=cert,
            user_agent=user_agent,
            timeout=timeout,
            password_grant=password_grant,
            clock=clock,
            trusted=trusted_hosts,
        )
        # One lock for the mode, the realm and the token cache, which change together.
        self._lock = threading.Lock()
        self._fetch_locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        self._mode: str | None = None  # "basic" or "bearer" once the host has said
        self._realm: Realm | None = None
        self._tokens = TokenCache(clock)

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
                return {"Authorization": basic_header(cred, self.hostname)}
            if mode != "bearer" or realm is None:
                return {}
            token = self._tokens.find(realm, wanted, avoid=None)
        if token is None:
            token = self._obtain(realm, wanted, challenge=None, avoid=None)
        return {"Authorization": token.header}

    def handle_challenge(self, response: requests.Response, scopes: Sequence[str]) -> bool:
        """React to a 401: True if a retry may succeed, False if it would fail the same way.

        Raises :class:`UnauthorizedError` when the host wants Basic auth and no username and
        password are configured, and :class:`AuthError` for an unsafe realm.
        """
        if not same_host(response.url, self.hostname):
            log.debug("not answering a 401 from %s for %s", netloc(response.url), self.hostname)
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

    def _answer_basic(self, sent: str | None) -> bool:
        header = basic_header(self._credential, self.hostname)
        with self._lock:
            self._mode = "basic"
        return sent != header

    # -- Bearer --------------------------------------------------------------------------------

    def _answer_bearer(
        self, challenge: Challenge, url: str, scopes: Sequence[str], sent: str | None
    ) -> bool:
        realm = Realm(checked_realm(challenge.realm or "", url, self.hostname), challenge.service)
        wanted = merge_scopes([*scopes, *_valid_scopes(challenge.scopes)])
        with self._lock:
            self._mode, self._realm = "bearer", realm
            used = self._tokens.by_header(sent)
            if used is not None and used.realm == realm:
                stale = challenge.error == "invalid_token" or not self._tokens.usable(used)
                if stale:
                    self._tokens.remove(used)
                    if used.challenge == challenge.key and self._tokens.recent(used):
                        return False  # a fresh token for this very challenge failed already
                elif scopes_cover(used.scopes, wanted):
                    # The token server already gave what it will give for these scopes.
                    return False
            cached = self._tokens.find(realm, wanted, avoid=sent)
        if cached is not None:
            return True  # another thread fetched a suitable token meanwhile
        token = self._obtain(realm, wanted, challenge=challenge.key, avoid=sent)
        return token.header != sent

    def _obtain(
        self,
        realm: Realm,
        wanted: tuple[Scope, ...],
        *,
        challenge: ChallengeKey | None,
        avoid: str | None,
    ) -> Token:
        """Fetch a token, unless another thread did while we waited for the stripe lock."""
        stripe = self._fetch_locks[hash((realm, wanted)) % _LOCK_STRIPES]
        with stripe:
            with self._lock:
                found = self._tokens.find(realm, wanted, avoid=avoid)
            if found is not None:
                return found
            token = self._fetcher.fetch(realm, wanted, challenge)
            with self._lock:
                self._tokens.store(token)
            return token


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
