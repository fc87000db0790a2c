"""``${NAME}`` in configuration strings, so one file serves many environments.

Expansion runs over every string value of the parsed document before it is validated, so the
schema and every check after it see the final text. ``${NAME:-default}`` gives a fallback when
the variable is unset or empty, and ``$$`` is a literal ``$``. A variable that is unset (with no
fallback) is an error naming the key, never a silent empty string: an empty password or host
would fail much later with a message about something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ocistore.errors import ConfigError

__all__ = ["expand", "key_path"]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


def key_path(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """``["sync", 2, "tags"]`` as ``sync[2].tags``; keys that are not plain words are quoted."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f'."{part}"' if out else f'"{part}"'
    return out or "(top level)"


def _expand_text(text: str, env: Mapping[str, str], where: list[str | int], origin: str) -> str:
    def one(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$$":
            return "$"
        name, fallback = match.group(1), match.group(2)
        if name is None:
            raise ConfigError(
                f"{origin}: {key_path(where)}: malformed variable {whole!r}",
                key=key_path(where),
                hint="write ${NAME} or ${NAME:-default}; $$ is a literal $",
            )
        value = env.get(name)
        if value:
            return value
        if fallback is not None:
            return fallback
        if value is not None:
            return value
        raise ConfigError(
            f"{origin}: {key_path(where)}: environment variable {name} is not set",
            key=key_path(where),
            hint=f"set {name}, or give a default as ${{{name}:-VALUE}}",
        )

    return _VAR.sub(one, text)


def expand(data: Any, env: Mapping[str, str], *, origin: str = "config") -> Any:
    """A copy of ``data`` with every string's variables replaced (keys are left as they are)."""

    def walk(value: Any, where: list[str | int]) -> Any:
        if isinstance(value, str):
            return _expand_text(value, env, where, origin) if "$" in value else value
        if isinstance(value, dict):
            return {k: walk(v, [*where, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, [*where, i]) for i, v in enumerate(value)]
        return value

    return walk(data, [])
