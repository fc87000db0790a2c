"""Plugin discovery: entry points -> pluggy -> a name-to-scheme table.

Nothing here runs at ``import ocistore``; :func:`load_schemes` does the work the first time a
router needs it. Environment switches:

* ``OCISTORE_PLUGIN_AUTOLOAD=0``: load no entry points (tests and embedders register their own).
* ``OCISTORE_DISABLE_PLUGINS=name,name``: skip these entry points.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from types import ModuleType

import pluggy

from ocistore import hookspecs
from ocistore.entrypoints import ENTRY_POINT_GROUP, EntryPointInfo, discover
from ocistore.errors import PluginLoadError, SchemeConflictError
from ocistore.scheme import SchemeSpec

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "SchemeRegistry", "load_schemes"]


class PluginInfo:
    """Where a plugin came from, for listings and error messages.

    A small value class rather than a dataclass: it is made on every start that loads plugins.
    """

    __slots__ = ("distribution", "name", "version")

    def __init__(self, name: str, distribution: str = "", version: str = "") -> None:
        self.name = name
        self.distribution = distribution
        self.version = version

    def _key(self) -> tuple[str, str, str]:
        return (self.name, self.distribution, self.version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PluginInfo):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"PluginInfo(name={self.name!r}, distribution={self.distribution!r}, "
            f"version={self.version!r})"
        )

    def __str__(self) -> str:
        if self.distribution:
            return f"{self.name} ({self.distribution} {self.version})"
        return self.name


class SchemeRegistry:
    """The object handed to ``ocistore_add_schemes``; refuses two claims on one name."""

    def __init__(self) -> None:
        self._specs: dict[str, SchemeSpec] = {}
        self._owner: dict[str, PluginInfo] = {}
        self._current = PluginInfo("<unknown>")

    def add(self, spec: SchemeSpec) -> None:
        """Register ``spec`` for the plugin currently being asked."""
        if not spec.name or spec.name != spec.name.lower() or "://" in spec.name:
            raise PluginLoadError(
                f"plugin {self._current} registered an invalid scheme name {spec.name!r}"
            )
        if spec.name in self._specs:
            raise SchemeConflictError(
                f"scheme {spec.name!r} is claimed by two plugins: {self._owner[spec.name]} "
                f"and {self._current}",
                hint="uninstall one, or disable it with "
                f"OCISTORE_DISABLE_PLUGINS={self._current.name}",
            )
        self._specs[spec.name] = replace(spec, plugin=self._current.name)
        self._owner[spec.name] = self._current

    def specs(self) -> dict[str, SchemeSpec]:
        return dict(self._specs)

    def owners(self) -> dict[str, PluginInfo]:
        return dict(self._owner)


def _disabled() -> set[str]:
    raw = os.environ.get("OCISTORE_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _autoload() -> bool:
    return os.environ.get("OCISTORE_PLUGIN_AUTOLOAD", "1").strip().lower() not in (
        "0",
        "false",
        "no",
    )


def _load_entry_point(ep: EntryPointInfo) -> tuple[object, PluginInfo]:
    info = PluginInfo(ep.name, ep.distribution, ep.version)
    try:
        return ep.load(), info
    except Exception as e:
        raise PluginLoadError(
            f"plugin {info} (entry point {ep.value!r}) failed to import: {type(e).__name__}: {e}",
            hint=f"reinstall or upgrade {info.distribution or info.name}, or disable it with "
            f"OCISTORE_DISABLE_PLUGINS={ep.name}",
        ) from e


def _load_entry_points(disabled: set[str]) -> list[tuple[object, PluginInfo]]:
    """Import every enabled plugin (the first of each name), in discovery order.

    A cached list that fails to import is asked for again, fresh, before the failure counts:
    the cache may predate a change its key cannot see.
    """
    found, cached = discover()
    while True:
        names: set[str] = set()
        loaded = []
        try:
            for ep in found:
                if ep.name in disabled or ep.name in names:
                    continue
                names.add(ep.name)
                loaded.append(_load_entry_point(ep))
        except PluginLoadError:
            if not cached:
                raise
            found, cached = discover(use_cache=False)
            continue
        return loaded


def load_schemes(
    extra_plugins: Iterable[object | tuple[str, object]] = (),
    *,
    autoload: bool | None = None,
) -> tuple[SchemeRegistry, dict[str, PluginInfo]]:
    """Discover plugins and ask each for its schemes.

    ``extra_plugins`` are registered as well (objects or ``(name, object)`` pairs): this is how
    tests and embedders add schemes without installing a distribution.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    if autoload if autoload is not None else _autoload():
        for plugin, info in _load_entry_points(_disabled()):
            _register(pm, plugin, info)
            infos[info.name] = info
    for i, extra in enumerate(extra_plugins):
        name, plugin = extra if isinstance(extra, tuple) else (_plugin_name(extra, i), extra)
        info = PluginInfo(name)
        _register(pm, plugin, info)
        infos[name] = info
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        culprit = _plugin_name(e.plugin, 0)
        for name, info in infos.items():
            if pm.get_plugin(name) is e.plugin:
                culprit = str(info)
        raise PluginLoadError(
            f"plugin {culprit} implements an unknown hook: {e}",
            hint="check the hook name against ocistore.hookspecs (all names start with ocistore_)",
        ) from e
    registry = SchemeRegistry()
    for impl in pm.hook.ocistore_add_schemes.get_hookimpls():
        registry._current = infos.get(impl.plugin_name, PluginInfo(impl.plugin_name))
        try:
            impl.function(registry=registry)
        except (SchemeConflictError, PluginLoadError):
            raise
        except Exception as e:
            raise PluginLoadError(
                f"plugin {registry._current} failed in ocistore_add_schemes: "
                f"{type(e).__name__}: {e}",
                hint=f"disable it with OCISTORE_DISABLE_PLUGINS={impl.plugin_name}",
            ) from e
    return registry, infos


def _plugin_name(plugin: object, index: int) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{index}"


def _register(pm: pluggy.PluginManager, plugin: object, info: PluginInfo) -> None:
    try:
        pm.register(plugin, name=info.name)
    except pluggy.PluginValidationError as e:
        raise PluginLoadError(f"plugin {info} is invalid: {e}") from e
    except ValueError as e:
        raise PluginLoadError(f"plugin {info} could not be registered: {e}") from e
