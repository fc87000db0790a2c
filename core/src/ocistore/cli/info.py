"""``ocistore scheme list`` and ``ocistore version``: what is installed, and what it can do.

``version`` is a start-up benchmark of its own, so it reads what it prints cheaply: the plugin
list comes from the same entry-point discovery the router uses (``importlib_metadata``), but
without loading the router and pluggy, and each distribution's name and version are read from the
plain ``Name:``/``Version:`` lines of its metadata instead of through the ``email`` package
(which ``Distribution.name`` and ``.version`` load, about 40 modules). Anything that is not a
plain header line goes to ``importlib_metadata`` as before, so the output is the same.
"""

from __future__ import annotations

import platform  # loaded by importlib_metadata anyway
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ocistore.cli.context import Context

__all__ = ["cmd_scheme_list", "cmd_version"]

#: ``ocistore.plugins.ENTRY_POINT_GROUP`` (a test keeps them equal); importing that module here
#: would load pluggy and the scheme contract for nothing.
ENTRY_POINT_GROUP = "ocistore.plugins"

#: One plain header line as the email parser reads it (compat32): a name of printable ASCII
#: without ``:``, then the value with leading blanks dropped and nothing else changed.
_HEADER = re.compile(r"([!-9;-~]+):[ \t]*([ -~]*)")


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


def plain_headers(text: str) -> dict[str, str] | None:
    """The header fields of core metadata (lower-case names, first occurrence of each).

    ``None`` unless every line up to the first empty one is a plain ``Name: value`` line of
    printable ASCII: folded, malformed or non-ASCII headers are left to the email parser, whose
    reading of plain lines this matches exactly.
    """
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        if not line:
            break
        match = _HEADER.fullmatch(line)
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


def cmd_version(ctx: Context) -> None:
    from ocistore import __version__

    plugins = []
    try:
        from importlib_metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            distribution, version = dist_name_version(getattr(ep, "dist", None))
            plugins.append({"plugin": ep.name, "distribution": distribution, "version": version})
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
