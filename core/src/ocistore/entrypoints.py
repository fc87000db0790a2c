"""The ``ocistore.plugins`` entry points, found once per state of what is installed.

Asking ``importlib_metadata`` on every start costs more than the rest of plugin loading: the
import of the library itself (with ``zipp`` and parts of the ``email`` package), a read of every
distribution's ``entry_points.txt``, and each plugin's metadata for its name and version. What it
answers only changes when something is installed, upgraded or removed, so the answer is kept in
a small JSON file and reused while nothing that decides it has changed. The key is, in order:

* the interpreter and ``sys.path`` (the file's name is their hash: one file per environment);
* the modification time of every ``sys.path`` entry. ``importlib_metadata`` finds distributions
  only as ``*.dist-info``/``*.egg-info`` entries directly inside a ``sys.path`` directory (or
  zip), and installing, upgrading or removing one adds, renames or deletes such an entry, which
  changes its directory's mtime; a new path (a ``.pth`` file, ``PYTHONPATH``) changes
  ``sys.path`` itself.

The key is taken *before* ``importlib_metadata`` is asked, so an install that races the scan
leaves a key that no longer matches. The cache is not used when a finder other than the path
finder can supply distributions (``find_distributions`` on ``sys.meta_path``): what such a
finder answers has no mtime to key on. Not noticed: an ``entry_points.txt`` edited in place by
hand inside an existing distribution (no installer does that); ``OCISTORE_PLUGIN_CACHE=0`` turns
the cache off. Where the cache directory cannot be written the answer is simply not kept.

Distribution names and versions are read from the plain ``Name:``/``Version:`` header lines of
the metadata (:func:`dist_name_version`) rather than through the ``email`` parser; anything else
goes to ``importlib_metadata`` as before.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "ENTRY_POINT_GROUP",
    "EntryPointInfo",
    "cache_dir",
    "discover",
    "dist_name_version",
    "plain_headers",
]

ENTRY_POINT_GROUP = "ocistore.plugins"
_FORMAT = 1

#: One plain header line as the email parser reads it (compat32): a name of printable ASCII
#: without ``:``, then the value with leading blanks dropped and nothing else changed.
_HEADER = r"([!-9;-~]+):[ \t]*([ -~]*)"

#: An entry point's value, as ``importlib_metadata.EntryPoint.pattern`` reads it.
_VALUE = r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$"


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class EntryPointInfo:
    """One entry point of the group: where it points, and which distribution declared it."""

    __slots__ = ("distribution", "name", "value", "version")

    def __init__(self, name: str, value: str, distribution: str = "", version: str = "") -> None:
        self.name = name
        self.value = value
        self.distribution = distribution
        self.version = version

    def load(self) -> Any:
        """Import the module and look up the attribute, as ``EntryPoint.load`` does."""
        match = _regex(_VALUE).match(self.value)
        if match is None:
            raise ValueError(f"invalid entry point value {self.value!r}")
        found: Any = importlib.import_module(match["module"])
        for attr in filter(None, (match["attr"] or "").split(".")):
            found = getattr(found, attr)
        return found

    def _row(self) -> list[str]:
        return [self.name, self.value, self.distribution, self.version]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EntryPointInfo):
            return NotImplemented
        return self._row() == other._row()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"EntryPointInfo(name={self.name!r}, value={self.value!r}, "
            f"distribution={self.distribution!r}, version={self.version!r})"
        )


def cache_dir() -> Path:
    """``$OCISTORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ocistore``, else ``~/.cache/ocistore``."""
    explicit = os.environ.get("OCISTORE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "ocistore"


def _cache_enabled() -> bool:
    return os.environ.get("OCISTORE_PLUGIN_CACHE", "1").strip().lower() not in ("0", "false", "no")


def _only_path_finders() -> bool:
    """True when every finder that can list distributions lists them from ``sys.path``."""
    for finder in sys.meta_path:
        if getattr(finder, "find_distributions", None) is None:
            continue
        module = finder.__module__ if isinstance(finder, type) else type(finder).__module__
        if module not in _PATH_FINDER_MODULES and module.split(".")[0] != "importlib_metadata":
            return False
    return True


#: Where the standard path finder (whose ``find_distributions`` reads ``sys.path``) lives.
_PATH_FINDER_MODULES = ("_frozen_importlib_external", "importlib._bootstrap_external")


def _key() -> list[list[Any]]:
    key: list[list[Any]] = []
    for entry in sys.path:
        try:
            mtime: int | None = os.stat(entry or ".").st_mtime_ns
        except (OSError, ValueError):
            mtime = None
        key.append([entry, mtime])
    return key


def _cache_file() -> Path:
    ident = json.dumps([sys.executable, sys.version, sys.path]).encode()
    return cache_dir() / f"entry-points-{hashlib.sha256(ident).hexdigest()[:24]}.json"


def _read(path: Path, key: list[list[Any]]) -> list[EntryPointInfo] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data["format"] != _FORMAT or data["key"] != key:
            return None
        rows = data["entry_points"]
        if not all(isinstance(r, list) and len(r) == 4 for r in rows):
            return None
        if not all(isinstance(v, str) for r in rows for v in r):
            return None
        return [EntryPointInfo(*r) for r in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, key: list[list[Any]], found: list[EntryPointInfo]) -> None:
    """Keep the answer (temp file + rename, so readers see all of it or none); best effort."""
    data = {"format": _FORMAT, "key": key, "entry_points": [ep._row() for ep in found]}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return
    _prune(path.parent)


#: Environments (interpreter + ``sys.path``) remembered; the least recently written go first.
_KEEP = 32


def _prune(directory: Path) -> None:
    """Keep the directory small: each distinct ``sys.path`` (every test's temporary target
    directory, say) writes a file of its own."""
    with contextlib.suppress(OSError):
        files = sorted(directory.glob("entry-points-*.json"), key=lambda f: f.stat().st_mtime_ns)
        for old in files[:-_KEEP]:
            old.unlink(missing_ok=True)


def _scan() -> list[EntryPointInfo]:
    """What ``importlib_metadata`` finds in the group, in its order."""
    from importlib_metadata import entry_points

    return [
        EntryPointInfo(ep.name, ep.value, *dist_name_version(getattr(ep, "dist", None)))
        for ep in entry_points(group=ENTRY_POINT_GROUP)
    ]


def discover(*, use_cache: bool = True) -> tuple[list[EntryPointInfo], bool]:
    """The group's entry points and whether they came from the cache.

    ``use_cache=False`` asks ``importlib_metadata`` (and refreshes the cache): a caller whose
    cached plugin fails to import asks again before it reports the failure.
    """
    if not (_cache_enabled() and _only_path_finders()):
        return _scan(), False
    key = _key()
    path = _cache_file()
    if use_cache:
        found = _read(path, key)
        if found is not None:
            return found, True
    found = _scan()
    _write(path, key, found)
    return found, False


def plain_headers(text: str) -> dict[str, str] | None:
    """The header fields of core metadata (lower-case names, first occurrence of each).

    ``None`` unless every line up to the first empty one is a plain ``Name: value`` line of
    printable ASCII: folded, malformed or non-ASCII headers are left to the email parser, whose
    reading of plain lines this matches exactly.
    """
    fields: dict[str, str] = {}
    header = _regex(_HEADER)
    for line in text.split("\n"):
        if not line:
            break
        match = header.fullmatch(line)
        if match is None:
            return None
        fields.setdefault(match[1].lower(), match[2])
    return fields


def dist_name_version(dist: Any) -> tuple[str, str]:
    """``(dist.name or "", dist.version or "")``, read without the email parser when possible.

    Only for ``importlib_metadata.PathDistribution`` itself (what installed distributions are),
    whose ``name`` and ``version`` are the ``Name``/``Version`` headers of the first non-empty
    ``METADATA`` or ``PKG-INFO``; any other class answers through its own attributes.
    """
    from importlib_metadata import PathDistribution

    text = None
    if type(dist) is PathDistribution:
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    fields = plain_headers(text) if isinstance(text, str) else None
    if fields is not None and "name" in fields and "version" in fields:
        return fields["name"], fields["version"]
    return getattr(dist, "name", "") or "", getattr(dist, "version", "") or ""
