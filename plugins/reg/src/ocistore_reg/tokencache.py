"""The bearer tokens one registry host has handed out, and when each may still be used.

A token is reused for every request its scopes cover until shortly before it expires, so each
new repository costs one token fetch and no extra 401. The cache also remembers which challenge
a token answered and when it was fetched: a 401 that repeats that very challenge soon after
means the server will not take a fresh token either, and the retry loop must stop.

The cache has no lock of its own: :class:`~ocistore_reg.auth.Authenticator` changes it together
with the host's auth mode under one lock, and that is what keeps the two consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from ocistore_reg.challenge import Scope, scopes_cover
from ocistore_reg.realms import Realm

__all__ = ["RECENT", "ChallengeKey", "Token", "TokenCache"]

#: A token rejected with the very challenge it was fetched for, within this many seconds, is
#: not renewed again (the retry loop guard); after that a renewal is worth one more try.
RECENT = 60.0
_MAX_TOKENS = 64

#: :attr:`ocistore_reg.challenge.Challenge.key`: what makes two 401s "the same challenge".
ChallengeKey: TypeAlias = tuple[str, tuple[tuple[str, str], ...], str | None]


class Token:
    """One bearer token (treat as immutable; a plain class: this module loads with every
    registry command, and a dataclass would cost more to create than it gives here)."""

    __slots__ = ("challenge", "fetched_at", "realm", "scopes", "usable_until", "value")

    def __init__(
        self,
        *,
        value: str,
        realm: Realm,
        scopes: tuple[Scope, ...],
        usable_until: float,
        fetched_at: float,
        challenge: ChallengeKey | None,
    ) -> None:
        self.value = value
        self.realm = realm
        self.scopes = scopes
        self.usable_until = usable_until
        self.fetched_at = fetched_at
        #: The challenge this token answered (None when fetched pre-emptively): a 401 repeating
        #: that challenge means a retry would fail again.
        self.challenge = challenge

    def __repr__(self) -> str:
        # never the value: a bearer token is a secret too
        return (
            f"Token(realm={self.realm!r}, scopes={self.scopes!r}, "
            f"usable_until={self.usable_until!r}, fetched_at={self.fetched_at!r})"
        )

    @property
    def header(self) -> str:
        return f"Bearer {self.value}"


class TokenCache:
    """At most 64 tokens, newest last; callers hold their own lock around every call.

    ``clock`` is monotonic seconds, the same clock the tokens' times were taken with.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tokens: list[Token] = []

    def usable(self, token: Token) -> bool:
        return self._clock() < token.usable_until

    def recent(self, token: Token) -> bool:
        """Fetched so recently that failing again means the server will not take it."""
        return self._clock() - token.fetched_at < RECENT

    def by_header(self, header: str | None) -> Token | None:
        """The cached token a request was sent with (from its ``Authorization`` header)."""
        if not header:
            return None
        return next((t for t in self._tokens if t.header == header), None)

    def find(self, realm: Realm, wanted: tuple[Scope, ...], avoid: str | None) -> Token | None:
        """The newest usable token from ``realm`` covering ``wanted``, other than ``avoid``."""
        for token in reversed(self._tokens):
            if (
                token.realm == realm
                and token.header != avoid
                and self.usable(token)
                and scopes_cover(token.scopes, wanted)
            ):
                return token
        return None

    def store(self, token: Token) -> None:
        """Add ``token``, dropping expired ones and, past the limit, the oldest."""
        self._tokens = [t for t in self._tokens if self.usable(t)]
        self._tokens.append(token)
        if len(self._tokens) > _MAX_TOKENS:
            del self._tokens[: len(self._tokens) - _MAX_TOKENS]

    def remove(self, token: Token) -> None:
        """Forget a token the registry rejected."""
        self._tokens.remove(token)
