"""The fixed cost of a command: ``ocistore`` side by side with ``skopeo``, as ratios.

Run: ``.venv/bin/python benchmarks/startup.py [--before REV|DIR] [--runs 40] [--json out.json]``

Three figures, each a whole process against a real registry (Debian ``docker-registry`` on
127.0.0.1, started through the test harness) and the target each has (issue 11):

* ``--help``: ocistore's must stay <= 30 ms (``skopeo --help``);
* ``tag ls`` of a repository of 1,001 tags: <= 8x ``skopeo list-tags`` of the same repository;
* a no-op copy registry -> layout, every blob already present (start-up, the source manifest,
  the checks that find everything there): <= 0.12 s (``skopeo copy docker://... oci:...`` into
  a layout it filled itself the same way; it finds every blob there too).

Two floors are printed with them: ``python -c pass`` (any Python command line) and
``python -c "import requests"`` (any Python tool that speaks HTTP through ``requests``, which
ocistore's registry plugin does and must keep doing).

``--before`` adds a column for another ocistore: a source tree, or a git revision that is
``git archive``d into a temporary directory. Both ocistores then run through the same installed
interpreter and entry point with their ``core/src`` and ``plugins/*/src`` first on
``PYTHONPATH`` (the installed metadata supplies the entry points), so they differ in their
source only.

Fairness on a shared, loaded machine: every command runs ``--runs`` times after three warm-up
runs, and the commands take turns within each round (before, after, skopeo, floors), so load
that comes and goes hits all of them alike; the figures are medians in ms of
``subprocess.run`` from this process (spawning, 1-2 ms, is in every figure, skopeo's too), and
each ratio is taken between medians of the same run. Byte-code is written on the warm-up runs
(``PYTHONDONTWRITEBYTECODE`` is dropped from the children's environment, as a normal install has
its ``.pyc`` files), so no run compiles. ``modules`` is how many modules the command imports
(``python -X importtime``; counts, unlike times, are exact). skopeo keeps its blob-info cache as
it normally would; ocistore keeps its entry-point cache likewise. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OCISTORE = str(Path(sys.executable).with_name("ocistore"))
SKOPEO = "/usr/bin/skopeo"
SRC_DIRS = ("core/src", "plugins/ocidir/src", "plugins/reg/src")
TAGS = 1001
WARMUP = 3

#: (case, target as text, test of an ocistore median in ms against skopeo's median)
TARGETS = {
    "--help": ("<= 30 ms", lambda ours, skopeo: ours <= 30.0),
    f"tag ls ({TAGS:,} tags)": ("<= 8x skopeo", lambda ours, skopeo: ours <= 8 * skopeo),
    "no-op copy registry -> layout": ("<= 120 ms", lambda ours, skopeo: ours <= 120.0),
}


def clean_env() -> dict[str, str]:
    drop = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "COLUMNS")
    return {k: v for k, v in os.environ.items() if not k.startswith("OCISTORE_") and k not in drop}


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


def fill_registry(host: str) -> None:
    """``HOST/app:v1`` (an image of 3 layers) and ``HOST/tags`` with :data:`TAGS` tags."""
    from ocistore import Client
    from ocistore.testing import content

    image = content.oci_image(1, layers=3)
    with Client() as client:
        for repo in ("app", "tags"):
            ref = client.parse(f"{host}/{repo}:v1")
            for digest, data in image.blobs.items():
                client.blob_put(ref, io.BytesIO(data), digest=digest, length=len(data))
            client.manifest_put(ref, image.manifest)
        for i in range(TAGS - 1):
            client.manifest_put(client.parse(f"{host}/tags:t{i:04d}"), image.manifest)


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=False)
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


def cases(host: str, work: Path) -> list[tuple[str, list[str], list[str]]]:
    """(name, ocistore arguments, skopeo command); the layouts are filled here, once per tool."""
    src = f"{host}/app:v1"
    ours = f"ocidir://{work / 'layout-ocistore'}:v1"
    theirs = f"oci:{work / 'layout-skopeo'}:v1"
    copy_ours = ["image", "copy", src, ours]
    copy_theirs = [SKOPEO, "copy", "-q", "--src-tls-verify=false", f"docker://{src}", theirs]
    subprocess.run([OCISTORE, *copy_ours], env=clean_env(), check=True, capture_output=True)
    subprocess.run(copy_theirs, check=True, capture_output=True)
    return [
        ("--help", ["--help"], [SKOPEO, "--help"]),
        (
            f"tag ls ({TAGS:,} tags)",
            ["tag", "ls", f"{host}/tags"],
            [SKOPEO, "list-tags", "--tls-verify=false", f"docker://{host}/tags"],
        ),
        ("no-op copy registry -> layout", copy_ours, copy_theirs),
    ]


def check_tags(host: str, env: dict[str, str], cwd: Path) -> None:
    """Both tools list the same 1,001 tags (the figure is about the same job)."""
    ours = subprocess.run(
        [OCISTORE, "tag", "ls", f"{host}/tags"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    theirs = json.loads(
        subprocess.run(
            [SKOPEO, "list-tags", "--tls-verify=false", f"docker://{host}/tags"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["Tags"]
    if sorted(ours) != sorted(theirs) or len(ours) != TAGS:
        raise SystemExit(f"tag ls: ocistore listed {len(ours)} tags, skopeo {len(theirs)}")


def measure(
    variants: dict[str, dict[str, str]], host: str, runs: int, work: Path
) -> list[dict[str, object]]:
    commands: list[tuple[str, str, list[str], dict[str, str]]] = []  # (case, tool, cmd, env)
    floors = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import requests'", [sys.executable, "-c", "import requests"]),
    ]
    for name, cmd in floors:
        commands.append((name, "python", cmd, clean_env()))
    for name, ours, theirs in cases(host, work):
        for variant, env in variants.items():
            commands.append((name, variant, [OCISTORE, *ours], env))
        commands.append((name, "skopeo", theirs, clean_env()))
    for env in variants.values():
        check_tags(host, env, work)
    times: dict[tuple[str, str], list[float]] = {(c, t): [] for c, t, _, _ in commands}
    for i in range(WARMUP + runs):
        # the order of the tools changes every round, so none always runs right after another
        order = commands if i % 2 == 0 else commands[::-1]
        for case, tool, cmd, env in order:
            elapsed = timed(cmd, env, work)
            if i >= WARMUP:
                times[(case, tool)].append(elapsed)
        if i >= WARMUP and (i - WARMUP + 1) % 10 == 0:
            print(f"  {i - WARMUP + 1}/{runs} rounds", file=sys.stderr)
    rows: dict[str, dict[str, object]] = {}
    for case, tool, cmd, env in commands:
        row = rows.setdefault(case, {"case": case})
        values = times[(case, tool)]
        row[tool] = round(statistics.median(values), 1)
        row[f"{tool} min"] = round(min(values), 1)
        if tool in variants:
            row[f"{tool} modules"] = module_count(cmd, env, work)
    return list(rows.values())


def report(rows: list[dict[str, object]], variants: list[str], runs: int) -> list[str]:
    lines = [
        f"median of {runs} alternating runs, ms (ratio: ocistore / skopeo, same run; "
        "speed-up: before / after)",
        "",
    ]
    head = f"{'case':31}" + "".join(f"{v:>17}" for v in variants) + f"{'skopeo':>8}"
    if "before" in variants:
        head += f"{'speed-up':>10}"
    lines.append(head + f"{'modules':>12}  target")
    for row in rows:
        if "python" in row:
            lines.append(f"{row['case']:31}{float(str(row['python'])):>17.1f}  (floor)")
            continue
        skopeo = float(str(row["skopeo"]))
        cells = "".join(
            f"{float(str(row[v])):>9.1f} ({float(str(row[v])) / skopeo:4.1f}x)" for v in variants
        )
        line = f"{row['case']:31}{cells}{skopeo:>8.1f}"
        if "before" in variants:
            line += f"{float(str(row['before'])) / float(str(row['after'])):>9.2f}x"
        mods = " -> ".join(str(row[f"{v} modules"]) for v in variants)
        target, met = TARGETS[str(row["case"])]
        verdict = "met" if met(float(str(row[variants[-1]])), skopeo) else "MISSED"
        lines.append(line + f"{mods:>12}  {target}: {verdict}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--before", metavar="REV|DIR", help="also measure this tree or revision")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    for tool in (OCISTORE, SKOPEO):
        if not Path(tool).exists():
            raise SystemExit(f"{tool} missing (scripts/bootstrap; apt-get install skopeo)")
    from tests.support.registry import start_registry

    with tempfile.TemporaryDirectory(prefix="ocistore-startup-") as tmp:
        work = Path(tmp)
        variants: dict[str, dict[str, str]] = {}
        if args.before:
            variants["before"] = tree_env(checkout(args.before, work / "before"))
            # the same PYTHONPATH shape for both, so they differ in their source only
            variants["after"] = tree_env(ROOT)
        else:
            variants["ocistore"] = clean_env()
        with start_registry("anon") as registry:
            fill_registry(registry.host)
            rows = measure(variants, registry.host, args.runs, work)
        shutil.rmtree(work / "before", ignore_errors=True)
    skopeo_version = subprocess.run(
        [SKOPEO, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {skopeo_version}"
        + (f", before = {args.before}" if args.before else "")
    )
    print("\n".join(report(rows, list(variants), args.runs)))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": args.runs, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
