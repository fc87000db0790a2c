"""``WWW-Authenticate`` challenges (RFC 7235, RFC 6750) and token scopes.

Registries answer 401 with one or more challenges that say how to authenticate. The grammar is
easy to get subtly wrong: commas separate both challenges and parameters, quoted values may hold
commas and backslash escapes, and a Bearer ``scope`` packs several space-separated scopes whose
repository names may contain ``host:port``. This module parses all of that leniently (real
servers are not always strict) and never raises on odd input: an unparsable piece is skipped,
because a 401 with a garbled header should end in a clear "unauthorized" rather than a parse
error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "Challenge",
    "Scope",
    "merge_scopes",
    "parse_challenges",
    "render_scopes",
    "repository_scope",
    "scopes_cover",
]

# RFC 7230 tchar: the characters allowed in a token (scheme names, parameter names).
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# RFC 7235 token68 adds "/" and allows trailing "=" padding.
_TOKEN68 = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPACE = " \t"


@dataclass(frozen=True, eq=True)
class Challenge:
    """One challenge: a lowercased scheme and its parameters (names lowercased too).

    ``token68`` holds the rare bare token form (``Negotiate abc==``); Bearer and Basic never use
    it.
    """

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...], str | None]:
        """A hashable identity: two 401s with equal keys are "the same challenge"."""
        return (self.scheme, tuple(sorted(self.params.items())), self.token68)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> list[str]:
        """The scopes of the ``scope`` parameter, split on whitespace (may be empty)."""
        return self.params.get("scope", "").split()

    @property
    def error(self) -> str | None:
        """``insufficient_scope``, ``invalid_token``... or None."""
        return self.params.get("error")


def parse_challenges(values: Iterable[str] | str) -> list[Challenge]:
    """Every challenge in the given ``WWW-Authenticate`` header values, in order.

    Accepts the header lines as separate strings or one comma-joined string (which is what
    ``requests`` produces when a server sends several lines).
    """
    if isinstance(values, str):
        values = [values]
    found: list[Challenge] = []
    for value in values:
        found.extend(_Parser(value).challenges())
    return found


class _Parser:
    """A single-pass scanner over one header value."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def challenges(self) -> list[Challenge]:
        out: list[Challenge] = []
        params: dict[str, str] | None = None
        while True:
            self._skip(_SPACE + ",")
            if self.pos >= len(self.text):
                break
            start = self.pos
            name = self._take(_TCHAR)
            if not name:
                self._skip_item()  # junk such as a stray quote: drop up to the next comma
                continue
            self._skip(_SPACE)
            if params is not None and self._peek() == "=":
                self.pos += 1
                self._add_param(params, name.lower(), self._value())
                continue
            # Not a parameter of the current challenge: a new scheme starts here.
            self.pos = start + len(name)
            params = {}
            token68 = self._token68()
            out.append(Challenge(name.lower(), params, token68))
            if token68 is not None:
                params = None  # token68 and parameters are exclusive
        return out

    def _token68(self) -> str | None:
        """A bare ``token68`` right after the scheme, if that is what follows."""
        save = self.pos
        self._skip(_SPACE)
        start = self.pos
        self._take(_TOKEN68)
        if self.pos == start:
            self.pos = save
            return None
        self._take(frozenset("="))
        end = self.pos
        self._skip(_SPACE)
        if self.pos >= len(self.text) or self._peek() == ",":
            # "scheme name=value" would have stopped at "=" followed by a value.
            return self.text[start:end]
        self.pos = save
        return None

    def _value(self) -> str:
        self._skip(_SPACE)
        if self._peek() == '"':
            return self._quoted()
        # Lenient: servers sometimes send unquoted URLs, so read up to a comma or space.
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _SPACE + ",":
            self.pos += 1
        return self.text[start : self.pos]

    def _quoted(self) -> str:
        self.pos += 1  # opening quote
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and self.pos < len(self.text):
                chars.append(self.text[self.pos])
                self.pos += 1
            elif char == '"':
                break
            else:
                chars.append(char)
        return "".join(chars)

    @staticmethod
    def _add_param(params: dict[str, str], name: str, value: str) -> None:
        # RFC 6750 forbids repeats; if a server repeats ``scope`` anyway, keep all of them.
        if name not in params:
            params[name] = value
        elif name == "scope":
            params[name] = f"{params[name]} {value}".strip()

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def _take(self, allowed: frozenset[str]) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def _skip_item(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] != ",":
            if self.text[self.pos] == '"':
                self._quoted()
            else:
                self.pos += 1


# Well-known actions first so rendered scopes are stable regardless of merge order.
_ACTION_ORDER = {"pull": 0, "push": 1, "delete": 2, "*": 3}


@dataclass(frozen=True, order=True)
class Scope:
    """A resource scope ``type:name:actions`` (``repository:a/b:pull,push``).

    The name may contain ``host:port``, so the type ends at the first ``:`` and the actions
    start after the last one. A deprecated resource class (``repository(plugin)``) stays part
    of ``type``: it is passed through untouched and only compared as text.
    """

    type: str
    name: str
    actions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse one scope; ``ValueError`` names the text when it has fewer than two colons."""
        first, last = text.find(":"), text.rfind(":")
        if first <= 0 or first == last or not text[first + 1 : last]:
            raise ValueError(f"not a scope (want type:name:actions): {text!r}")
        actions = _sorted_actions(a.strip() for a in text[last + 1 :].split(","))
        return cls(text[:first], text[first + 1 : last], actions)

    def render(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"

    def __str__(self) -> str:
        return self.render()

    @property
    def resource(self) -> tuple[str, str]:
        return (self.type, self.name)

    def covers(self, other: Scope) -> bool:
        """True if this scope grants at least what ``other`` asks for (``*`` grants all)."""
        if self.resource != other.resource:
            return False
        return "*" in self.actions or set(other.actions) <= set(self.actions)


def _sorted_actions(actions: Iterable[str]) -> tuple[str, ...]:
    unique = {a for a in actions if a}
    return tuple(sorted(unique, key=lambda a: (_ACTION_ORDER.get(a, len(_ACTION_ORDER)), a)))


def merge_scopes(scopes: Iterable[str | Scope]) -> tuple[Scope, ...]:
    """Union the actions per resource and sort, so equal needs give equal (cacheable) tuples.

    ``["repository:a:pull", "repository:a:push", "repository:b:pull"]`` becomes
    ``(repository:a:pull,push, repository:b:pull)``. Raises ``ValueError`` on a malformed scope.
    """
    merged: dict[tuple[str, str], set[str]] = {}
    for item in scopes:
        scope = item if isinstance(item, Scope) else Scope.parse(item)
        merged.setdefault(scope.resource, set()).update(scope.actions)
    return tuple(
        sorted(Scope(kind, name, _sorted_actions(acts)) for (kind, name), acts in merged.items())
    )


def render_scopes(scopes: Iterable[Scope]) -> list[str]:
    return [scope.render() for scope in scopes]


def scopes_cover(granted: Iterable[Scope], wanted: Iterable[Scope]) -> bool:
    """True if every wanted scope is covered by one granted scope."""
    by_resource: Mapping[tuple[str, str], Scope] = {s.resource: s for s in merge_scopes(granted)}
    for scope in wanted:
        have = by_resource.get(scope.resource)
        if have is None or not have.covers(scope):
            return False
    return True


def repository_scope(repository: str, *actions: str) -> str:
    """``repository_scope("a/b", "pull", "push")`` -> ``"repository:a/b:pull,push"``."""
    return Scope("repository", repository, _sorted_actions(actions)).render()
