"""Mirroring: keep many repositories in step from one config (``ocistore sync``).

The package is split by concern:

* :mod:`.config`: the TOML file read into :class:`SyncConfig` (defaults, hosts, entries);
* :mod:`.envexpand`: ``${ENV}`` in its strings;
* :mod:`.schema`: the JSON Schema check, with errors that name the key;
* :mod:`.filters`: which tags a repository entry mirrors (regexes, versions, newest N);
* :mod:`.shard`: ``--shard K/N``, a deterministic split of the work;
* :mod:`.unit`: one target tag brought up to date (HEADs first, backup tag, copy);
* :mod:`.engine`: :class:`Sync`, every entry in parallel through one client;
* :mod:`.report`: what happened, per tag, per entry, in total;
* :mod:`.serve`: entries on their intervals until stopped.

:meth:`ocistore.Client.sync` is the short way in; the command line uses :class:`Sync`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Entry",
    "EntryReport",
    "Shard",
    "Sync",
    "SyncConfig",
    "SyncReport",
    "TagResult",
    "load_config",
    "serve",
]

_EXPORTS = {
    "Entry": "ocistore.sync.config",
    "SyncConfig": "ocistore.sync.config",
    "load_config": "ocistore.sync.config",
    "EntryReport": "ocistore.sync.report",
    "SyncReport": "ocistore.sync.report",
    "TagResult": "ocistore.sync.report",
    "Shard": "ocistore.sync.shard",
    "Sync": "ocistore.sync.engine",
    "serve": "ocistore.sync.serve",
}


def __getattr__(name: str) -> Any:
    import importlib

    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ocistore.sync' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from ocistore.sync.config import Entry, SyncConfig, load_config
    from ocistore.sync.engine import Sync
    from ocistore.sync.report import EntryReport, SyncReport, TagResult
    from ocistore.sync.serve import serve
    from ocistore.sync.shard import Shard
