"""Start-up time of ``ocistore`` side by side with ``skopeo``, as ratios.

Run: ``.venv/bin/python benchmarks/startup.py [--before REV|DIR] [--runs 20] [--json out.json]``

Each case is a command that does little besides starting: ``--help``, ``version`` (skopeo:
``--version``), the digest of an OCI layout's tag (skopeo: ``inspect --format {{.Digest}}``), and
a manifest read from a layout, which ocistore validates against its JSON schemas (skopeo:
``inspect --raw``). The layout is written once into a temporary directory.

``--before`` adds a column for another ocistore: a source tree, or a git revision that is
``git archive``d into a temporary directory; it runs through the same installed interpreter and
entry point with its ``core/src`` and ``plugins/*/src`` first on ``PYTHONPATH`` (as
``copy_vs_skopeo.py --tree`` does). Without it only the installed ocistore is measured.

Every command runs ``--runs`` times after two warm-up runs; the tools take turns within each
round (before, after, skopeo), so drift on a busy machine hits all of them alike. Figures are
wall-clock medians in ms of ``subprocess.run`` from this process (the spawn cost, 1-2 ms, is in
every figure, skopeo's too). ``modules`` is how many modules the command imports
(``python -X importtime``; counts, unlike times, are exact). ``python -c pass`` is the floor for
any Python command line on this machine. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OCISTORE = str(Path(sys.executable).with_name("ocistore"))
SKOPEO = "/usr/bin/skopeo"
SRC_DIRS = ("core/src", "plugins/ocidir/src", "plugins/reg/src")
TAG = "bench"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCISTORE_")}
    env.pop("PYTHONPATH", None)
    env.pop("COLUMNS", None)
    return env


def tree_env(tree: Path) -> dict[str, str]:
    dirs = [str((tree / d).resolve()) for d in SRC_DIRS]
    for d in dirs:
        if not Path(d).is_dir():
            raise SystemExit(f"--before {tree}: no {d}")
    return {**clean_env(), "PYTHONPATH": os.pathsep.join(dirs)}


def checkout(rev: str, into: Path) -> Path:
    """The tree of ``rev`` (``git archive``), or ``rev`` itself when it is a directory."""
    if Path(rev).is_dir():
        return Path(rev)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def make_layout(path: Path) -> str:
    """An OCI image in a layout at ``path`` (written by the installed ocistore's client)."""
    from ocistore import Client
    from ocistore.testing import content

    image = content.oci_image(1, layers=3)
    with Client() as client:
        ref = client.parse(f"ocidir://{path}:{TAG}")
        for digest, data in image.blobs.items():
            client.blob_put(ref, io.BytesIO(data), digest=digest, length=len(data))
        client.manifest_put(ref, image.manifest)
    return str(path)


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-1000:]}")
    return elapsed * 1000


def module_count(cmd: list[str], env: dict[str, str], cwd: Path) -> int:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    return sum(1 for line in proc.stderr.decode().splitlines() if line.startswith("import time:"))


def cases(layout: str) -> list[tuple[str, list[str], list[str]]]:
    ref = f"ocidir://{layout}:{TAG}"
    return [
        ("--help", ["--help"], [SKOPEO, "--help"]),
        ("version", ["version"], [SKOPEO, "--version"]),
        (
            "image digest (layout)",
            ["image", "digest", ref],
            [SKOPEO, "inspect", "--format", "{{.Digest}}", f"oci:{layout}:{TAG}"],
        ),
        (
            "manifest get (layout, validated)",
            ["manifest", "get", ref],
            [SKOPEO, "inspect", "--raw", f"oci:{layout}:{TAG}"],
        ),
    ]


def measure(
    variants: dict[str, dict[str, str]], layout: str, runs: int, cwd: Path
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    floor_cmd = [sys.executable, "-c", "pass"]
    for name, ours, theirs in [("python -c pass", [], floor_cmd), *cases(layout)]:
        commands = {v: ([OCISTORE, *ours], env) for v, env in variants.items()} if ours else {}
        commands["skopeo" if ours else "python"] = (theirs, clean_env())
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(2):
            for cmd, env in commands.values():
                timed(cmd, env, cwd)
        for _ in range(runs):
            for key, (cmd, env) in commands.items():
                times[key].append(timed(cmd, env, cwd))
        row: dict[str, object] = {"case": name}
        for key, values in times.items():
            row[key] = round(statistics.median(values), 1)
            row[f"{key} min"] = round(min(values), 1)
        for variant, env in variants.items() if ours else ():
            row[f"{variant} modules"] = module_count([OCISTORE, *ours], env, cwd)
        rows.append(row)
        print(f"  measured {name}", file=sys.stderr)
    return rows


def report(rows: list[dict[str, object]], variants: list[str], runs: int) -> list[str]:
    lines = [
        f"start-up, median of {runs} runs in ms (ratio: ocistore time / skopeo time; "
        "speed-up: before / after)",
        "",
    ]
    head = f"{'case':33}" + "".join(f"{v:>16}" for v in variants) + f"{'skopeo':>9}"
    if "before" in variants:
        head += f"{'speed-up':>10}"
    lines.append(head + f"{'modules':>12}")
    for row in rows:
        if "python" in row:
            lines.append(f"{row['case']:33}" + f"{row['python']:>16.1f}" + "  (floor)")
            continue
        skopeo = float(str(row["skopeo"]))
        cells = "".join(
            f"{float(str(row[v])):>8.1f} ({float(str(row[v])) / skopeo:4.1f}x)" for v in variants
        )
        line = f"{row['case']:33}{cells}{skopeo:>9.1f}"
        if "before" in variants:
            line += f"{float(str(row['before'])) / float(str(row['after'])):>9.2f}x"
        mods = " -> ".join(str(row[f"{v} modules"]) for v in variants)
        lines.append(line + f"{mods:>12}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--before", metavar="REV|DIR", help="also measure this tree or revision")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    for tool in (OCISTORE, SKOPEO):
        if not Path(tool).exists():
            raise SystemExit(f"{tool} missing (scripts/bootstrap; apt-get install skopeo)")
    with tempfile.TemporaryDirectory(prefix="ocistore-startup-") as tmp:
        work = Path(tmp)
        variants: dict[str, dict[str, str]] = {}
        if args.before:
            variants["before"] = tree_env(checkout(args.before, work / "before"))
        variants["after" if args.before else "ocistore"] = clean_env()
        layout = make_layout(work / "layout")
        rows = measure(variants, layout, args.runs, work)
    skopeo_version = subprocess.run(
        [SKOPEO, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}, {skopeo_version}"
        + (f", before = {args.before}" if args.before else "")
    )
    print("\n".join(report(rows, list(variants), args.runs)))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": args.runs, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
