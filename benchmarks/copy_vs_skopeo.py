"""Copy speed and memory, ocistore side by side with skopeo on this machine.

Run: ``.venv/bin/python benchmarks/copy_vs_skopeo.py [--shape 8x32 --shape 4x128] [--repeat 3]``
(``benchmarks/README.md`` says what each case measures and shows the figures we got).

For each image shape (``LAYERSxMIB``) it writes one source image of incompressible layers (random
bytes wrapped in real gzip streams, so no tool is tempted to recompress them) into an OCI layout,
starts two real registries on 127.0.0.1 (``docker-registry``, through the test harness) and times
the same copies with ``ocistore image copy`` and ``skopeo copy``:

* layout -> layout, same filesystem (ocistore hard-links blobs here, skopeo copies bytes);
* layout -> layout across filesystems (disk -> /dev/shm and /dev/shm -> disk): bytes for both;
* layout -> registry, registry -> layout;
* registry -> registry, other repository of the same registry (ocistore mounts);
* registry -> registry between two registries (bytes down and up again);
* start-up: ``--help``, ``version``, a manifest digest read from a layout;
* a ``python -X importtime`` summary of ``ocistore image copy`` to a registry.

Fairness: the same source for both tools; every run copies into a fresh target (new directory or
new repository), removed afterwards; runs alternate between the tools and start after a ``sync``
(no run pays for an earlier run's dirty pages); skopeo gets ``--preserve-digests`` (ocistore never
rewrites content) and, when run as root, a private empty blob-info cache per run (its persistent
cache would otherwise let it mount blobs from earlier runs' repositories instead of uploading
them). Every target's manifest digest is checked against the source's, so both tools provably did
the same job. Wall time is the best of ``--repeat`` runs; CPU time (user + system) the least;
peak RSS (``/usr/bin/time``'s maximum resident set size) the highest. The registries' own CPU
time during each run is shown too: on a small machine they compete with the client for cores.
Nothing here asserts: it is a measurement to read.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    ENV,
    GNU_TIME,
    MIB,
    OCISTORE,
    REGISTRY_PIDS,
    SKOPEO,
    TAG,
    Run,
    Skopeo,
    build_image,
    machine,
    output,
    run,
    temp_root,
    use_tree,
)


def build_source(layout: Path, scratch: Path, layers: int, layer_mib: int) -> tuple[int, str]:
    """An OCI image of ``layers`` random layers; returns (bytes of blobs, manifest digest)."""
    seed = f"bench-{layers}x{layer_mib}"
    return build_image(layout, scratch, [layer_mib * MIB] * layers, seed)


# -- cases --------------------------------------------------------------------------------------
Fresh = Callable[[], tuple[str, str, Path | None]]


@dataclass
class Case:
    name: str
    ours_src: str
    theirs_src: str
    fresh: Fresh
    """A new target: (ocistore ref, skopeo ref, directory to remove afterwards)."""
    note: str = ""


@dataclass
class Row:
    name: str
    ours: float
    theirs: float
    rss_ours: int
    rss_theirs: int
    cpu_ours: float
    cpu_theirs: float
    reg_cpu_ours: float
    reg_cpu_theirs: float
    note: str = ""
    ours_runs: list[float] = field(default_factory=list)
    theirs_runs: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.theirs / self.ours


def make_row(name: str, ours: list[Run], theirs: list[Run], note: str = "") -> Row:
    """Best wall time, highest peak RSS, least CPU time of each tool's runs."""
    return Row(
        name,
        min(r.seconds for r in ours),
        min(r.seconds for r in theirs),
        max(r.rss_kib for r in ours),
        max(r.rss_kib for r in theirs),
        min(r.cpu for r in ours),
        min(r.cpu for r in theirs),
        min(r.reg_cpu for r in ours),
        min(r.reg_cpu for r in theirs),
        note,
        [round(r.seconds, 3) for r in ours],
        [round(r.seconds, 3) for r in theirs],
    )


def check_target(ref: str, want: str) -> None:
    got = output([OCISTORE, "image", "digest", ref])
    if got != want:
        raise SystemExit(f"{ref} has digest {got}, the source {want}: the copies differ")


def measure(case: Case, skopeo: Skopeo, repeat: int, digest: str) -> Row:
    ours: list[Run] = []
    theirs: list[Run] = []
    for i in range(repeat):
        for who in ("ours", "theirs") if i % 2 == 0 else ("theirs", "ours"):
            ours_ref, their_ref, cleanup = case.fresh()
            if who == "ours":
                cmd = [OCISTORE, "image", "copy", "--no-progress", case.ours_src, ours_ref]
                ours.append(run(cmd))
            else:
                theirs.append(skopeo.timed(skopeo.copy(case.theirs_src, their_ref)))
            check_target(ours_ref, digest)
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
    return make_row(case.name, ours, theirs, case.note)


@dataclass
class Places:
    work: Path
    """The source layout's directory (on disk)."""
    shm: Path | None
    """A directory on another filesystem, if there is one."""
    host_a: str
    host_b: str


def copy_cases(places: Places, src: Path, shm_src: Path | None) -> Iterator[Case]:
    counter = iter(range(1_000_000))

    def in_dir(base: Path) -> Fresh:
        def fresh() -> tuple[str, str, Path | None]:
            d = base / f"dst{next(counter)}"
            return f"ocidir://{d}:{TAG}", f"oci:{d}:{TAG}", d

        return fresh

    def in_reg(host: str) -> Fresh:
        def fresh() -> tuple[str, str, Path | None]:
            repo = f"{host}/bench/t{next(counter)}:{TAG}"
            return repo, f"docker://{repo}", None

        return fresh

    layout = (f"ocidir://{src}:{TAG}", f"oci:{src}:{TAG}")
    registry = (f"{places.host_a}/bench/src:{TAG}", f"docker://{places.host_a}/bench/src:{TAG}")
    yield Case("layout -> layout", *layout, in_dir(places.work), "ocistore hard-links")
    if places.shm is not None and shm_src is not None:
        yield Case("layout -> layout, disk->shm", *layout, in_dir(places.shm), "byte copy")
        yield Case(
            "layout -> layout, shm->disk",
            f"ocidir://{shm_src}:{TAG}",
            f"oci:{shm_src}:{TAG}",
            in_dir(places.work),
            "byte copy, fsync to disk",
        )
    yield Case("layout -> registry", *layout, in_reg(places.host_a))
    yield Case("registry -> layout", *registry, in_dir(places.work))
    yield Case("registry -> registry, 1 reg", *registry, in_reg(places.host_a), "ocistore mounts")
    yield Case("registry -> registry, 2 regs", *registry, in_reg(places.host_b), "down and up")


# -- start-up -----------------------------------------------------------------------------------
def startup(src: Path, repeat: int) -> list[Row]:
    pairs = [
        ("start-up: --help", [OCISTORE, "--help"], [SKOPEO, "--help"]),
        ("start-up: version", [OCISTORE, "version"], [SKOPEO, "--version"]),
        (
            "start-up: digest of a layout",
            [OCISTORE, "image", "digest", f"ocidir://{src}:{TAG}"],
            [SKOPEO, "inspect", "--format", "{{.Digest}}", f"oci:{src}:{TAG}"],
        ),
    ]
    rows = []
    for name, ours_cmd, theirs_cmd in pairs:
        ours = [run(ours_cmd) for _ in range(repeat)]
        theirs = [run(theirs_cmd) for _ in range(repeat)]
        rows.append(make_row(name, ours, theirs))
    return rows


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def importtime(src: Path, host: str, top: int) -> list[str]:
    """``-X importtime`` of a copy to a registry: total, biggest top-level imports, by package."""
    cmd = [sys.executable, "-X", "importtime", OCISTORE, "image", "copy", "--no-progress"]
    cmd += [f"ocidir://{src}:{TAG}", f"{host}/bench/importtime:{TAG}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ENV)
    if proc.returncode != 0:
        raise SystemExit(f"importtime run failed: {proc.stderr[-2000:]}")
    entries = []
    for line in proc.stderr.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            entries.append((int(m[1]), int(m[2]), len(m[3]), m[4]))
    total = sum(e[0] for e in entries)
    by_pkg: dict[str, int] = {}
    for self_us, _cum, _depth, name in entries:
        pkg = name.split(".")[0]
        by_pkg[pkg] = by_pkg.get(pkg, 0) + self_us
    roots = sorted((e for e in entries if e[2] == 1), key=lambda e: -e[1])[:top]
    lines = [
        f"imports of `ocistore image copy` to a registry: {len(entries)} modules, "
        f"{total / 1000:.0f} ms (self times summed; -X importtime inflates them)",
        "  outermost imports by cumulative time:",
    ]
    lines += [f"    {cum / 1000:7.1f} ms  {name}" for _s, cum, _d, name in roots]
    lines.append("  top-level packages by summed self time:")
    lines += [
        f"    {us / 1000:7.1f} ms  {pkg}"
        for pkg, us in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:top]
    ]
    return lines


# -- report -------------------------------------------------------------------------------------
def table(rows: list[Row], mib: float) -> list[str]:
    """One line per case; throughput and registry columns only for copies (``mib`` > 0)."""
    head = (
        f"{'case':29} {'ocistore':>8} {'skopeo':>8} {'ratio':>6} "
        + (f"{'MiB/s':>6} {'skopeo':>6} " if mib else "")
        + f"{'CPU':>6} {'skopeo':>6} "
        + (f"{'regCPU':>6} {'skopeo':>6} " if mib else "")
        + f"{'RSS':>5} {'skopeo':>6}  note"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.name:29} {r.ours:7.3f}s {r.theirs:7.3f}s {r.ratio:5.2f}x "
            + (f"{mib / r.ours:6.0f} {mib / r.theirs:6.0f} " if mib else "")
            + f"{r.cpu_ours:5.2f}s {r.cpu_theirs:5.2f}s "
            + (f"{r.reg_cpu_ours:5.2f}s {r.reg_cpu_theirs:5.2f}s " if mib else "")
            + f"{r.rss_ours / 1024:4.0f}M {r.rss_theirs / 1024:5.0f}M  {r.note}"
        )
    return lines


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--shape", action="append", help="LAYERSxMIB, repeatable (8x32 and 4x128)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and case (best counts)")
    ap.add_argument("--startup-repeat", type=int, default=10)
    ap.add_argument("--cases", help="only cases whose name contains this text")
    ap.add_argument("--workdir", type=Path, help="where layouts go (default: a temp dir)")
    ap.add_argument("--shm", type=Path, default=Path("/dev/shm"), help="a dir on another fs")
    ap.add_argument(
        "--registry-on-disk",
        action="store_true",
        help="keep the registries' storage on disk (default: in --shm, if it is another fs)",
    )
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--no-startup", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    ap.add_argument(
        "--tree", type=Path, help="run ocistore from this source tree (e.g. a `git archive`)"
    )
    return ap.parse_args()


def run_shape(
    places: Places, layers: int, layer_mib: int, skopeo: Skopeo, args: argparse.Namespace
) -> dict[str, Any]:
    """Build one image, time every case on it, print the table; returns the figures."""
    work = places.work
    work.mkdir()
    src = work / "src"
    total, digest = build_source(src, work, layers, layer_mib)
    shm_src = None
    if places.shm is not None:
        shm_src = places.shm / f"src-{layers}x{layer_mib}"
        shutil.copytree(src, shm_src)
    mib = total / MIB
    print(f"\nimage: {layers} x {layer_mib} MiB layers = {mib:.0f} MiB, {digest}")
    seed = f"{places.host_a}/bench/src:{TAG}"
    run([OCISTORE, "image", "copy", "--no-progress", f"ocidir://{src}:{TAG}", seed])
    rows = []
    for case in copy_cases(places, src, shm_src):
        if args.cases and args.cases not in case.name:
            continue
        row = measure(case, skopeo, args.repeat, digest)
        rows.append(row)
        print(f"  {row.name:29} ocistore {row.ours_runs} skopeo {row.theirs_runs}")
    print(f"\nbest of {args.repeat}, {layers} x {layer_mib} MiB")
    print("\n".join(table(rows, mib)), flush=True)
    if shm_src is not None:
        shutil.rmtree(shm_src, ignore_errors=True)
    return {"layers": layers, "layer_mib": layer_mib, "mib": mib, "rows": [asdict(r) for r in rows]}


def main() -> None:
    args = parse_args()
    if args.tree:
        use_tree(args.tree)
    shapes = [tuple(int(x) for x in s.lower().split("x")) for s in args.shape or ["8x32", "4x128"]]
    for tool in (SKOPEO, OCISTORE, GNU_TIME):
        if not Path(tool).exists():
            raise SystemExit(
                f"missing {tool}: run scripts/test once (it installs skopeo) or scripts/bootstrap"
                + ("; apt-get install time" if tool == GNU_TIME else "")
            )

    from tests.support.registry import start_registry

    print(machine())
    print(
        "ocistore from", output([sys.executable, "-c", "import ocistore; print(ocistore.__file__)"])
    )
    skopeo = Skopeo()
    if skopeo.isolated:
        print(
            "skopeo runs with a private, empty blob-info cache; the wrapper's "
            f"{skopeo.overhead * 1000:.1f} ms are taken off its times"
        )
    else:
        print(
            "warning: skopeo shares its blob-info cache between runs, so it may mount blobs "
            "from earlier runs' repositories instead of uploading them (run as root to fix)"
        )
    report: dict[str, Any] = {"machine": machine(), "shapes": []}
    with ExitStack() as stack:
        base = args.workdir or Path(tempfile.mkdtemp(prefix="ocistore-bench-"))
        base.mkdir(parents=True, exist_ok=True)
        if not args.keep:
            stack.callback(shutil.rmtree, base, ignore_errors=True)
        shm: Path | None = None
        if args.shm.is_dir() and args.shm.stat().st_dev != base.stat().st_dev:
            shm = Path(tempfile.mkdtemp(prefix="ocistore-bench-", dir=args.shm))
            if not args.keep:
                stack.callback(shutil.rmtree, shm, ignore_errors=True)
        else:
            print(f"note: {args.shm} is not another filesystem: cross-filesystem cases skipped")
        with temp_root(None if args.registry_on_disk else shm):
            reg_a = stack.enter_context(start_registry("anon"))
            reg_b = stack.enter_context(start_registry("anon"))
        print(f"registry storage: {reg_a.data_dir.parent.parent}")
        REGISTRY_PIDS[:] = [reg_a.pid, reg_b.pid]
        for layers, layer_mib in shapes:
            places = Places(base / f"{layers}x{layer_mib}", shm, reg_a.host, reg_b.host)
            report["shapes"].append(run_shape(places, layers, layer_mib, skopeo, args))
        if not args.no_startup:
            first = base / f"{shapes[0][0]}x{shapes[0][1]}" / "src"
            rows = startup(first, args.startup_repeat)
            print(f"\nstart-up, best of {args.startup_repeat}")
            print("\n".join(table(rows, 0)))
            imports = importtime(first, reg_a.host, 12)
            print("\n" + "\n".join(imports))
            report["startup"] = [asdict(r) for r in rows]
            report["importtime"] = imports
    print("\nratio = skopeo time / ocistore time (above 1: ocistore is faster)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
