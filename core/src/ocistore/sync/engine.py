"""The sync engine: every entry of a config, in parallel, through one client.

One :class:`~ocistore.Client` serves the whole run, so every copy shares its per-host state:
each registry host has one connection pool, one request limit (``host_requests``, or the
host's own ``requests``) and one 429 pause, however many images are copied at once. Work is
split into units (:class:`~ocistore.sync.unit.Unit`, one per target tag) that run on a pool of
``parallel`` threads; listing a repository's tags is a task of the same pool. A failing entry
or tag is recorded and the rest go on; the report says which failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING

from ocistore.errors import ConfigError, OCIStoreError
from ocistore.sync.filters import TagFilter
from ocistore.sync.report import EntryReport, SyncReport, TagResult
from ocistore.sync.shard import Shard
from ocistore.sync.unit import Unit, run_unit

if TYPE_CHECKING:
    from ocistore.client import Client
    from ocistore.ref import Ref
    from ocistore.router import Router
    from ocistore.settings import Settings
    from ocistore.sync.config import Entry, SyncConfig

__all__ = ["Progress", "Sync"]

#: Called with the entry's key and each unit's result as soon as the unit is done.
Progress = Callable[[str, TagResult], None]


def _names_tag(text: str) -> bool:
    """Whether reference text names a tag or digest itself (a registry reference without
    one parses with ``latest``, which must not make it an image entry)."""
    return "@" in text or ":" in text.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class _Plan:
    """An entry with its references parsed and its type decided."""

    entry: Entry
    source: Ref
    target: Ref
    type: str


class Sync:
    """Mirror what a :class:`~ocistore.sync.config.SyncConfig` lists.

    :param settings: the base settings (command-line TLS options, docker config); the config's
        ``[hosts]`` tables and request limits are laid over them.
    :param router: a ready router (tests, embedders, or the caller's client's).
    :param shard: do only this shard's units (see :mod:`ocistore.sync.shard`).
    :param progress: called for each finished unit.

    Use it as a context manager, or call :meth:`close`: the client it holds keeps connections
    (and an OCI layout collects garbage on close).
    """

    def __init__(
        self,
        config: SyncConfig,
        *,
        settings: Settings | None = None,
        router: Router | None = None,
        shard: Shard | None = None,
        progress: Progress | None = None,
    ) -> None:
        from ocistore.router import Router
        from ocistore.settings import Settings

        self.config = config
        self.shard = shard or Shard()
        self.progress = progress
        self.router = router if router is not None else Router()
        self.plans = [self._plan(e) for e in config.entries]
        self.settings = self._settings(settings or Settings())
        self._client: Client | None = None
        self._lock = threading.Lock()

    # -- set-up -------------------------------------------------------------------------------
    def _fail(self, entry: Entry, key: str, message: str) -> ConfigError:
        where = f"sync[{entry.index}].{key}"
        return ConfigError(f"{self.config.origin}: {where}: {message}", key=where)

    def _parse(self, entry: Entry, key: str, text: str) -> Ref:
        try:
            return self.router.parse(text)
        except OCIStoreError as e:
            raise self._fail(entry, key, str(e)) from None

    def _plan(self, entry: Entry) -> _Plan:
        source = self._parse(entry, "source", entry.source)
        target = self._parse(entry, "target", entry.target)
        kind = entry.type or ("image" if _names_tag(entry.source) else "repository")
        if kind == "repository":
            for key, text in (("source", entry.source), ("target", entry.target)):
                if _names_tag(text):
                    raise self._fail(
                        entry, key, f"a repository entry copies every tag: {text!r} names one"
                    )
            return _Plan(entry, source.bare(), target.bare(), kind)
        if target.digest is not None:
            raise self._fail(entry, "target", f"{entry.target!r}: a target cannot name a digest")
        if not _names_tag(entry.target):
            tag = source.tag if _names_tag(entry.source) and source.tag else ""
            target = target.with_tag(tag) if tag else target.bare()
        if not target.tag and source.digest is None:
            raise self._fail(entry, "target", f"{entry.target!r}: no tag to copy to")
        return _Plan(entry, source, target, kind)

    def _settings(self, base: Settings) -> Settings:
        from ocistore.sync.config import HostEntry

        hosts = set(self.config.hosts)
        for plan in self.plans:
            hosts.update(r.registry for r in (plan.source, plan.target) if r.registry)
        settings = base
        for name in sorted(hosts):
            current = base.host(name)
            extra = self.config.hosts.get(name, HostEntry())
            changes: dict[str, object] = {}
            if extra.user is not None:
                changes["username"] = extra.user
            if extra.password is not None:
                changes["password"] = extra.password
            if extra.token is not None:
                changes["registry_token"] = extra.token
            if extra.tls is not None:
                changes["tls"] = extra.tls
            if extra.ca_file is not None:
                changes["ca_file"] = extra.ca_file
            limit = extra.requests or current.max_requests or self.config.host_requests
            changes["max_requests"] = limit
            settings = settings.with_host(replace(current, **changes))  # type: ignore[arg-type]
        return settings

    @property
    def client(self) -> Client:
        """The one client every copy of this sync goes through."""
        with self._lock:
            if self._client is None:
                from ocistore.client import Client

                self._client = Client(settings=self.settings, router=self.router)
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Sync:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- running ------------------------------------------------------------------------------
    def units(self, plan: _Plan) -> list[Unit]:
        """This shard's units of ``plan`` (lists the source's tags for a repository entry)."""
        if plan.type == "image":
            unit = Unit(plan.entry, plan.source, plan.target)
            return [unit] if self.shard.owns(unit.key) else []
        tags = TagFilter(plan.entry.tags).select(self.client.tag_list(plan.source))
        units = [Unit(plan.entry, plan.source.with_tag(t), plan.target.with_tag(t)) for t in tags]
        return [u for u in units if self.shard.owns(u.key)]

    def _one(self, unit: Unit, check: bool, stop: threading.Event | None) -> TagResult:
        if stop is not None and stop.is_set():
            return TagResult(str(unit.source), str(unit.target), "cancelled")
        result = run_unit(self.client, unit, check=check)
        if self.progress is not None:
            self.progress(unit.entry.key, result)
        return result

    def run(
        self,
        *,
        check: bool = False,
        only: Collection[int] | None = None,
        stop: threading.Event | None = None,
    ) -> SyncReport:
        """Sync every entry (``only``: those with these indexes); ``check`` changes nothing
        and reports drift instead. Units not started when ``stop`` is set are cancelled."""
        started = time.monotonic()
        report = SyncReport(mode="check" if check else "run", shard=str(self.shard))
        plans = [p for p in self.plans if only is None or p.entry.index in only]
        reports = {
            p.entry.index: EntryReport(
                key=p.entry.key,
                name=p.entry.name,
                source=str(p.source),
                target=str(p.target),
                type=p.type,
            )
            for p in plans
        }
        listed: dict[int, Future[list[Unit]]] = {}
        running: list[tuple[int, Future[TagResult]]] = []
        with ThreadPoolExecutor(self.config.parallel, thread_name_prefix="ocistore-sync") as pool:
            for plan in plans:
                listed[plan.entry.index] = pool.submit(self.units, plan)
            for index, future in listed.items():
                t0 = time.monotonic()
                try:
                    units = future.result()
                except OCIStoreError as e:
                    reports[index].error = " ".join(str(e).split())
                    reports[index].seconds += time.monotonic() - t0
                    continue
                for unit in units:
                    running.append((index, pool.submit(self._one, unit, check, stop)))
            for index, done in running:
                result = done.result()
                reports[index].tags.append(result)
                reports[index].seconds += result.seconds
        for plan in plans:
            entry_report = reports[plan.entry.index]
            entry_report.tags.sort(key=lambda t: t.target)
            if plan.type == "image" and not entry_report.tags and entry_report.error is None:
                continue  # another shard's image
            report.entries.append(entry_report)
        report.seconds = time.monotonic() - started
        report.stopped = stop is not None and stop.is_set()
        return report
