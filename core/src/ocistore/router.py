"""The router: reference text -> scheme, by prefix.

Routing is a dictionary lookup on the text before ``://``. A reference without a prefix goes to
the default scheme (``reg`` unless the user says otherwise, via the constructor or
``OCISTORE_DEFAULT_SCHEME``); no plugin can change that choice.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ocistore.errors import UnknownSchemeError
from ocistore.plugins import PluginInfo, load_schemes
from ocistore.ref import Ref, split_scheme
from ocistore.scheme import SchemeSpec

__all__ = ["INSTALL_HINTS", "Router"]

#: Where to get schemes we know of but which may not be installed.
INSTALL_HINTS = {"reg": "ocistore-reg", "ocidir": "ocistore-ocidir"}


class Router:
    """Resolves references to registered schemes; plugins load on first use."""

    def __init__(
        self,
        *,
        plugins: Iterable[object | tuple[str, object]] = (),
        autoload: bool | None = None,
        default_scheme: str | None = None,
    ) -> None:
        self._extra = list(plugins)
        self._autoload = autoload
        self.default_scheme = default_scheme or os.environ.get("OCISTORE_DEFAULT_SCHEME") or "reg"
        self._specs: dict[str, SchemeSpec] | None = None
        self._owners: dict[str, PluginInfo] = {}

    def _load(self) -> dict[str, SchemeSpec]:
        if self._specs is None:
            registry, _ = load_schemes(self._extra, autoload=self._autoload)
            self._specs = registry.specs()
            self._owners = registry.owners()
        return self._specs

    def schemes(self) -> dict[str, SchemeSpec]:
        """Every registered scheme by name."""
        return dict(self._load())

    def owner(self, name: str) -> PluginInfo:
        self._load()
        return self._owners[name]

    def spec(self, name: str) -> SchemeSpec:
        """The scheme called ``name``; the error lists installed ones and an install hint."""
        specs = self._load()
        found = specs.get(name)
        if found is not None:
            return found
        installed = ", ".join(sorted(specs)) or "none"
        hint = None
        if name in INSTALL_HINTS:
            hint = f"pip install {INSTALL_HINTS[name]}"
        raise UnknownSchemeError(
            f"unknown scheme {name!r} (installed schemes: {installed})", hint=hint
        )

    def scheme_of(self, text: str) -> str:
        prefix, _ = split_scheme(text)
        return prefix if prefix is not None else self.default_scheme

    def parse(self, text: str | Ref) -> Ref:
        """Parse reference text with the grammar of the scheme its prefix names."""
        if isinstance(text, Ref):
            return text
        return self.spec(self.scheme_of(text)).parse(text)
