"""The sync config: a TOML file read into typed, checked values.

Why TOML: Python reads it with the standard library (``tomllib``), so mirroring needs no new
dependency, and its tables map one-to-one onto the JSON Schema that checks it. The layout is
the one regsync users know (``defaults``, ``hosts``, a list of ``sync`` entries), spelled
``[defaults]``, ``[hosts."HOST"]`` and ``[[sync]]``; docs/sync.md describes every key.

Loading is three steps, each failing with a :class:`~ocistore.errors.ConfigError` that names the
offending key: ``${ENV}`` expansion (:mod:`.envexpand`), the JSON Schema (:mod:`.schema`), then
the checks a schema cannot make (regular expressions compile, version ranges parse, platforms
parse, the backup template only uses known fields). Entries inherit every option from
``[defaults]``; a key set in the entry wins, and the ``tags`` table is merged key by key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ocistore.errors import ConfigError
from ocistore.sync.envexpand import expand, key_path
from ocistore.sync.schema import validate

__all__ = [
    "DEFAULT_INTERVAL",
    "Entry",
    "HostEntry",
    "SyncConfig",
    "TagRules",
    "backup_name",
    "load_config",
    "parse_duration",
]

EntryType = Literal["image", "repository"]
#: How often ``sync serve`` runs an entry that names no ``interval``.
DEFAULT_INTERVAL = 3600.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BACKUP_FIELDS = {"tag": "v1", "date": "20260101", "time": "000000", "digest": "0" * 12}


def parse_duration(text: str) -> float:
    """``"1h30m"`` as seconds (units s, m, h, d)."""
    parts = re.findall(r"([0-9]+)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 15m, 1h30m, 1d)")
    return float(sum(int(n) * _UNITS[u] for n, u in parts))


def backup_name(template: str, *, tag: str, digest_hex: str, when: float) -> str:
    """The backup tag for ``tag``: ``{tag}``, ``{date}`` (UTC YYYYMMDD), ``{time}`` (HHMMSS) and
    ``{digest}`` (first 12 hex digits of the digest being replaced)."""
    import time

    stamp = time.gmtime(when)
    return template.format(
        tag=tag,
        date=time.strftime("%Y%m%d", stamp),
        time=time.strftime("%H%M%S", stamp),
        digest=digest_hex[:12],
    )


@dataclass(frozen=True)
class TagRules:
    """Which tags of a repository are mirrored: see :class:`ocistore.sync.filters.TagFilter`."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    semver: str | None = None
    newest: int | None = None


@dataclass(frozen=True)
class Entry:
    """One ``[[sync]]`` entry with the defaults applied.

    ``type`` is None when the file does not say; it is then ``image`` when the source names a
    tag or digest and ``repository`` otherwise (decided when references are parsed).
    """

    index: int
    source: str
    target: str
    name: str = ""
    type: EntryType | None = None
    tags: TagRules = TagRules()
    platforms: tuple[str, ...] = ()
    referrers: bool = False
    referrers_artifact_type: str | None = None
    digest_tags: bool = False
    fast: bool = False
    force_recursive: bool = False
    include_external: bool = False
    backup: str | None = None
    interval: float = DEFAULT_INTERVAL
    concurrency: int | None = None
    attempts: int = 3

    @property
    def key(self) -> str:
        """How reports and errors name the entry: ``sync[2]`` plus its name, if it has one."""
        return f"sync[{self.index}]" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True)
class HostEntry:
    """A ``[hosts."HOST"]`` table: credentials, TLS and the request limit of one registry."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    tls: Literal["enabled", "insecure", "disabled"] | None = None
    ca_file: str | None = None
    requests: int | None = None


@dataclass(frozen=True)
class SyncConfig:
    """A whole config: its entries, hosts and run-wide limits."""

    entries: tuple[Entry, ...]
    hosts: Mapping[str, HostEntry] = field(default_factory=dict)
    #: Images (tags) copied at once, across all entries.
    parallel: int = 4
    #: Requests in flight per registry host, shared by every copy (None: no limit).
    host_requests: int | None = 8
    origin: str = "config"

    @classmethod
    def from_dict(
        cls,
        data: Any,
        *,
        origin: str = "config",
        environ: Mapping[str, str] | None = None,
        expand_env: bool = True,
    ) -> SyncConfig:
        """Expand, validate and check a parsed document (what ``tomllib`` returns);
        ``expand_env=False`` takes strings as they are (values typed on a command line)."""
        env = os.environ if environ is None else environ
        expanded = expand(data, env, origin=origin) if expand_env else data
        validate(expanded, origin=origin)
        defaults: dict[str, Any] = expanded.get("defaults", {})
        entries = tuple(_entry(i, raw, defaults, origin) for i, raw in enumerate(expanded["sync"]))
        hosts = {
            name: HostEntry(**{k: v for k, v in raw.items()})
            for name, raw in expanded.get("hosts", {}).items()
        }
        return cls(
            entries=entries,
            hosts=hosts,
            parallel=int(defaults.get("parallel", 4)),
            host_requests=defaults.get("host_requests", 8),
            origin=origin,
        )


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> SyncConfig:
    """Read and check the TOML file at ``path``."""
    import tomllib

    origin = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{origin}: not valid TOML: {e}", hint="see docs/sync.md") from None
    return SyncConfig.from_dict(data, origin=origin, environ=environ)


def _fail(origin: str, where: list[str | int], message: str) -> ConfigError:
    key = key_path(where)
    return ConfigError(f"{origin}: {key}: {message}", key=key, hint="see docs/sync.md")


def _entry(index: int, raw: dict[str, Any], defaults: dict[str, Any], origin: str) -> Entry:
    merged: dict[str, Any] = {**defaults, **raw}
    merged.pop("parallel", None)
    merged.pop("host_requests", None)
    where_of: dict[str, list[str | int]] = {
        k: (["sync", index, k] if k in raw else ["defaults", k]) for k in merged
    }
    tags_raw: dict[str, Any] = {**defaults.get("tags", {}), **raw.get("tags", {})}
    for kind in ("allow", "deny"):
        for i, pattern in enumerate(tags_raw.get(kind, ())):
            where = (
                ["sync", index, "tags", kind, i]
                if kind in raw.get("tags", {})
                else ["defaults", "tags", kind, i]
            )
            try:
                re.compile(pattern)
            except re.error as e:
                raise _fail(origin, where, f"invalid regular expression {pattern!r}: {e}") from None
    if "semver" in tags_raw:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        where = (
            ["sync", index, "tags", "semver"]
            if "semver" in raw.get("tags", {})
            else ["defaults", "tags", "semver"]
        )
        try:
            SpecifierSet(tags_raw["semver"])
        except InvalidSpecifier:
            raise _fail(
                origin,
                where,
                f"invalid version range {tags_raw['semver']!r} (examples: '>=1.2', '>=1.2,<2')",
            ) from None
    for i, text in enumerate(merged.get("platforms", ())):
        if text == "":
            continue
        from ocistore.platform import Platform

        try:
            Platform.parse(text)
        except Exception as e:  # Platform.parse raises OCIStoreError or ValueError
            raise _fail(origin, [*where_of["platforms"], i], str(e)) from None
    if "backup" in merged:
        try:
            backup_name(merged["backup"], tag="v1", digest_hex="0" * 12, when=0)
        except (KeyError, IndexError, ValueError) as e:
            raise _fail(
                origin,
                where_of["backup"],
                f"invalid backup template {merged['backup']!r} ({e}); "
                f"known fields: {', '.join('{' + k + '}' for k in _BACKUP_FIELDS)}",
            ) from None
    interval = DEFAULT_INTERVAL
    if "interval" in merged:
        interval = parse_duration(merged["interval"])
        if interval <= 0:
            raise _fail(origin, where_of["interval"], "the interval must be longer than 0s")
    return Entry(
        index=index,
        source=raw["source"],
        target=raw["target"],
        name=raw.get("name", ""),
        type=raw.get("type"),
        tags=TagRules(
            allow=tuple(tags_raw.get("allow", ())),
            deny=tuple(tags_raw.get("deny", ())),
            semver=tags_raw.get("semver"),
            newest=tags_raw.get("newest"),
        ),
        platforms=tuple(merged.get("platforms", ())),
        referrers=bool(merged.get("referrers", False)),
        referrers_artifact_type=merged.get("referrers_artifact_type"),
        digest_tags=bool(merged.get("digest_tags", False)),
        fast=bool(merged.get("fast", False)),
        force_recursive=bool(merged.get("force_recursive", False)),
        include_external=bool(merged.get("include_external", False)),
        backup=merged.get("backup"),
        interval=interval,
        concurrency=merged.get("concurrency"),
        attempts=int(merged.get("attempts", 3)),
    )
