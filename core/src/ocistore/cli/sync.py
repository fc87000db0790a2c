"""``ocistore sync run|check|serve`` and ``ocistore repo copy``: mirroring from the command line.

Handlers only (arguments: :mod:`ocistore.cli.arguments`); all the work is
:class:`ocistore.sync.Sync`, the same object the Python API uses. ``repo copy`` is a sync of a
one-entry config built from its arguments, so it has the same skip-what-is-identical check,
parallelism, per-host limits and report.

Exit codes: ``0`` everything is in step; ``1`` an entry failed (the summary names it) or, for
``sync check``, something is out of date; ``2`` the command line was wrong. An invalid config
fails before anything is copied, with the offending key in the message.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, TextIO

from ocistore.cli.errors import EXIT_ERROR, EXIT_OK, UsageError
from ocistore.cli.output import human_size, table

if TYPE_CHECKING:
    from ocistore.cli.context import Context
    from ocistore.sync.config import SyncConfig
    from ocistore.sync.engine import Sync
    from ocistore.sync.report import SyncReport, TagResult

__all__ = ["cmd_check", "cmd_repo_copy", "cmd_run", "cmd_serve"]


def _shard(ctx: Context) -> Any:
    from ocistore.sync.shard import Shard

    text = getattr(ctx.args, "shard", None)
    if not text:
        return Shard()
    try:
        return Shard.parse(text)
    except ValueError as e:
        raise UsageError(f"--shard: {e}") from None


def _progress(stream: TextIO, enabled: bool) -> Any:
    """One line per finished tag on a terminal (stderr), nothing otherwise."""
    if not enabled or not stream.isatty():
        return None
    lock = threading.Lock()

    def show(entry: str, result: TagResult) -> None:
        size = f" ({human_size(result.bytes)})" if result.bytes else ""
        why = (
            f": {result.error}"
            if result.error
            else (f" ({result.reason})" if result.reason else "")
        )
        with lock:
            stream.write(f"{result.status:<9} {result.source} -> {result.target}{size}{why}\n")
            stream.flush()

    return show


def _open(ctx: Context, config: SyncConfig) -> Sync:
    from ocistore.cli.options import build_settings
    from ocistore.sync.engine import Sync

    if ctx.opts.user:
        raise UsageError(
            "--user does not apply to sync: give credentials per host in the config",
            hint='[hosts."HOST"] user = "..." password = "${ENV_VAR}" (or docker login)',
        )
    settings = build_settings(ctx.opts, (), None)
    return Sync(
        config,
        settings=settings,
        router=ctx.router,
        shard=_shard(ctx),
        progress=_progress(ctx.out.stderr, not getattr(ctx.args, "no_progress", False)),
    )


def _load(ctx: Context) -> SyncConfig:
    from ocistore.sync.config import load_config

    try:
        return load_config(ctx.args.config)
    except FileNotFoundError:
        raise UsageError(f"config file {ctx.args.config} not found") from None


def _text(report: SyncReport) -> str:
    rows = []
    for e in report.entries:
        counts = (
            f"{e.count('drift')} drift"
            if report.mode == "check"
            else f"{e.count('copied')} copied, {e.count('skipped')} skipped"
        )
        failed = e.count("failed") + (1 if e.error else 0)
        rows.append(
            (
                e.key,
                f"{e.source} -> {e.target}",
                e.status,
                counts + (f", {failed} failed" if failed else ""),
                human_size(e.bytes),
            )
        )
    lines = [table(("ENTRY", "SOURCE -> TARGET", "STATUS", "TAGS", "BYTES"), rows)] if rows else []
    if report.mode == "check":
        for e in report.entries:
            for t in e.tags:
                if t.status == "drift":
                    lines.append(f"drift: {t.source} -> {t.target} ({t.reason})")
    for e in report.failed_entries:
        if e.error:
            lines.append(f"failed: {e.key}: {e.error}")
        for t in e.tags:
            if t.status == "failed":
                lines.append(f"failed: {e.key}: {t.source} -> {t.target}: {t.error}")
    failed = len(report.failed_entries)
    what = (
        f"{report.drift} out of date"
        if report.mode == "check"
        else f"{report.copied} copied, {report.skipped} up to date"
    )
    lines.append(
        f"summary: {what}, {failed} entr{'y' if failed == 1 else 'ies'} failed "
        f"(shard {report.shard}, {report.seconds:.1f}s)"
    )
    return "\n".join(lines)


def _finish(ctx: Context, report: SyncReport) -> int:
    ctx.out.data(report.to_dict(), lambda: _text(report))
    return EXIT_OK if report.ok else EXIT_ERROR


def cmd_run(ctx: Context) -> int:
    with _open(ctx, _load(ctx)) as sync:
        return _finish(ctx, sync.run())


def cmd_check(ctx: Context) -> int:
    with _open(ctx, _load(ctx)) as sync:
        return _finish(ctx, sync.run(check=True))


def cmd_serve(ctx: Context) -> int:
    """Run until SIGTERM or SIGINT; each round's report goes out as it finishes."""
    import signal

    from ocistore.sync.serve import serve

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        ctx.out.note(f"ocistore sync serve: {signal.Signals(signum).name}, stopping")
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _open(ctx, _load(ctx)) as sync:
            rounds = serve(sync, stop, on_report=lambda r: ctx.out.data(r.to_dict(), _text(r)))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    ctx.out.note(f"ocistore sync serve: stopped after {rounds} round(s)")
    return EXIT_OK


def cmd_repo_copy(ctx: Context) -> int:
    from ocistore.sync.config import SyncConfig

    a = ctx.args
    entry: dict[str, Any] = {"source": a.source, "target": a.target, "type": "repository"}
    tags: dict[str, Any] = {}
    if a.include:
        tags["allow"] = a.include
    if a.exclude:
        tags["deny"] = a.exclude
    if a.semver:
        tags["semver"] = a.semver
    if a.newest:
        tags["newest"] = a.newest
    if tags:
        entry["tags"] = tags
    if ctx.opts.platforms:
        entry["platforms"] = [str(p) for p in ctx.opts.platforms]
    for flag in ("referrers", "digest_tags", "fast", "force_recursive", "include_external"):
        if getattr(a, flag):
            entry[flag] = True
    if a.backup:
        entry["backup"] = a.backup
    entry["attempts"] = a.attempts
    defaults: dict[str, Any] = {"parallel": a.parallel}
    if a.host_requests:
        defaults["host_requests"] = a.host_requests
    config = SyncConfig.from_dict(
        {"defaults": defaults, "sync": [entry]}, origin="repo copy", expand_env=False
    )
    with _open(ctx, config) as sync:
        return _finish(ctx, sync.run())
