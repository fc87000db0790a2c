"""Medians, ratios and the issue's targets for ``suite.py``'s results.

Every ratio is ocistore's median wall time over the peer's, both from the same run of the suite
(below 1: ocistore is faster). Peak RSS is the highest of a tool's runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

__all__ = ["checks", "summarize", "table"]

#: The issue's targets: (workload, op, peer) -> highest allowed ocistore / peer time ratio.
RATIO_TARGETS = {
    ("image 200MB", op, peer): limit
    for op in ("push", "pull")
    for peer, limit in (("skopeo", 0.7), ("oras-py", 0.5), ("python-dxf", 0.5), ("curl", 1.6))
}
RSS_LIMIT_MIB = 64
RSS_SPREAD = 0.10  # 1 GiB copy's peak RSS within +-10 % of the 200 MB copy's
PER_TAG_GROWTH = 2.0  # per-tag cost at 10,000 tags at most twice that at 1,000


def summarize(results: Sequence[Any], tools: Sequence[str]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for r in results:
        groups.setdefault((r.workload, r.op, r.tool), []).append(r)
    rows = []
    for (workload, op, tool), runs in groups.items():
        inner = [r.inner for r in runs if r.inner is not None]
        rows.append(
            {
                "workload": workload,
                "op": op,
                "tool": tool,
                "runs": len(runs),
                "seconds": [round(r.seconds, 4) for r in runs],
                "median_s": statistics.median(r.seconds for r in runs),
                "median_inner_s": statistics.median(inner) if inner else None,
                "median_cpu_s": statistics.median(r.cpu for r in runs),
                "median_reg_cpu_s": statistics.median(r.reg_cpu for r in runs),
                "max_rss_kib": max(r.rss_kib for r in runs),
            }
        )
    ours = {(r["workload"], r["op"]): r for r in rows if r["tool"] == "ocistore"}
    for row in rows:
        base = ours.get((row["workload"], row["op"]))
        row["ratio"] = base["median_s"] / row["median_s"] if base else None
    order = {t: i for i, t in enumerate(tools)}
    return sorted(rows, key=lambda r: (r["workload"], r["op"], order.get(r["tool"], 99)))


def _find(summary: Sequence[dict[str, Any]], workload: str, op: str, tool: str) -> Any:
    for row in summary:
        if (row["workload"], row["op"], row["tool"]) == (workload, op, tool):
            return row
    return None


def checks(summary: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    out = []
    for (workload, op, peer), limit in RATIO_TARGETS.items():
        row = _find(summary, workload, op, peer)
        if row is not None:
            out.append(_check(f"{workload} {op}: ocistore / {peer}", row["ratio"], limit, "x"))
    for op in ("push", "pull", "copy"):
        big = _find(summary, "1 GiB blob", op, "ocistore")
        if big is None:
            continue
        mib = big["max_rss_kib"] / 1024
        out.append(_check(f"1 GiB blob {op}: ocistore peak RSS", mib, RSS_LIMIT_MIB, " MiB"))
        ref = _find(summary, "image 200MB", op, "ocistore")
        if ref is not None:
            spread = big["max_rss_kib"] / ref["max_rss_kib"] - 1
            name = f"1 GiB blob {op}: peak RSS over the 200 MB {op}'s"
            out.append(_check(name, spread, RSS_SPREAD, "", pct=True))
    small = _find(summary, "layout 1000 tags", "put", "ocistore")
    large = _find(summary, "layout 10000 tags", "put", "ocistore")
    if small and large and small["median_inner_s"] and large["median_inner_s"]:
        growth = (large["median_inner_s"] / 10000) / (small["median_inner_s"] / 1000)
        out.append(_check("layout put: per-tag cost at 10k / at 1k", growth, PER_TAG_GROWTH, "x"))
    return out


def _check(name: str, value: float, limit: float, unit: str, pct: bool = False) -> dict[str, Any]:
    return {"target": name, "value": value, "limit": limit, "unit": "%" if pct else unit.strip(),
            "ok": (abs(value) if pct else value) <= limit}  # fmt: skip


def table(
    summary: Sequence[dict[str, Any]], found: Sequence[dict[str, Any]], tools: Sequence[str]
) -> list[str]:
    keys = list(dict.fromkeys((r["workload"], r["op"]) for r in summary))
    head = f"{'workload':18} {'op':5} " + " ".join(f"{t:>16}" for t in tools)
    lines = [
        "median wall time (ratio = ocistore / tool, same run; below 1: ocistore faster)",
        head,
        "-" * len(head),
    ]
    rss = ["peak RSS, MiB (highest run)", head, "-" * len(head)]
    for workload, op in keys:
        cells, mem = [], []
        for tool in tools:
            row = _find(summary, workload, op, tool)
            if row is None:
                cells.append(f"{'-':>16}")
                mem.append(f"{'-':>16}")
                continue
            ratio = "" if tool == "ocistore" else f" {row['ratio']:5.2f}x"
            cells.append(f"{row['median_s']:8.3f}s{ratio}".rjust(16))
            mem.append(f"{row['max_rss_kib'] / 1024:16.0f}")
        lines.append(f"{workload:18} {op:5} " + " ".join(cells))
        rss.append(f"{workload:18} {op:5} " + " ".join(mem))
    for workload in ("layout 1000 tags", "layout 10000 tags"):
        row = _find(summary, workload, "put", "ocistore")
        if row and row["median_inner_s"]:
            n = int(workload.split()[1])
            lines.append(
                f"  {workload}: {row['median_inner_s'] / n * 1e6:.0f} us per tag (API, in-process)"
            )
    out = [*lines, "", *rss, "", "targets (issue 11)"]
    for c in found:
        value = f"{c['value'] * 100:+.1f} %" if c["unit"] == "%" else f"{c['value']:.2f}{c['unit']}"
        limit = f"{c['limit'] * 100:.0f} %" if c["unit"] == "%" else f"{c['limit']:g}{c['unit']}"
        out.append(
            f"  {'ok  ' if c['ok'] else 'MISS'} {c['target']:52} {value:>10} ({'within +-' if c['unit'] == '%' else '<= '}{limit})"
        )
    return out
