"""``ocistore scheme list`` and ``ocistore version``: what is installed, and what it can do.

``version`` is a start-up benchmark of its own, so it reads what it prints cheaply: the plugin
list comes from the same entry-point discovery the router uses (:mod:`ocistore.entrypoints`,
cached, names and versions read without the ``email`` package), but without loading the router
and pluggy.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ocistore.cli.context import Context

__all__ = ["cmd_scheme_list", "cmd_version"]


def cmd_scheme_list(ctx: Context) -> None:
    import dataclasses

    from ocistore.cli.options import build_settings

    router = ctx.router
    settings = build_settings(ctx.opts, (), None)
    rows: list[dict[str, Any]] = []
    for name, spec in sorted(router.schemes().items()):
        owner = router.owner(name)
        entry: dict[str, Any] = {
            "scheme": name,
            "default": name == router.default_scheme,
            "description": spec.description,
            "plugin": owner.name,
            "distribution": owner.distribution,
            "version": owner.version,
        }
        try:
            # Creating a scheme is cheap by contract (no I/O until a reference is used).
            info = spec.factory(settings).info()
            entry["capabilities"] = dataclasses.asdict(info)
        except Exception as e:
            entry["capabilities"] = None
            entry["error"] = f"{type(e).__name__}: {e}"
        rows.append(entry)

    def text() -> str:
        out = []
        for r in rows:
            default = " (default)" if r["default"] else ""
            origin = r["distribution"] or "registered in-process"
            ver = f" {r['version']}" if r["version"] else ""
            out.append(f"{r['scheme']}{default}: {r['description']}")
            out.append(f"  plugin:       {r['plugin']} ({origin}{ver})")
            caps = r["capabilities"]
            if caps is None:
                out.append(f"  capabilities: unavailable: {r['error']}")
            else:
                on = [k for k, v in caps.items() if v] or ["none"]
                out.append(f"  capabilities: {', '.join(on)}")
        return "\n".join(out) or "no schemes installed"

    ctx.out.data({"schemes": rows}, text)


def cmd_version(ctx: Context) -> None:
    from ocistore import __version__

    plugins = []
    try:
        # The router's discovery (and its cache), without loading the router and pluggy.
        from ocistore.entrypoints import discover

        for ep in discover()[0]:
            plugins.append(
                {"plugin": ep.name, "distribution": ep.distribution, "version": ep.version}
            )
    except Exception as e:  # listing plugins is informative only; the version must print
        ctx.out.note(f"could not list plugins: {e}")
    data: dict[str, Any] = {
        "version": __version__,
        "python": platform.python_version(),
        "plugins": sorted(plugins, key=lambda p: p["plugin"]),
    }

    def text() -> str:
        lines = [f"ocistore {__version__} (Python {data['python']})"]
        lines += [f"  {p['plugin']}: {p['distribution']} {p['version']}" for p in data["plugins"]]
        return "\n".join(lines)

    ctx.out.data(data, text)
