"""ocistore side by side with every peer and the floor: one command, raw JSON, a table of ratios.

Run ``scripts/bench`` (or ``.venv/bin/python benchmarks/suite.py [--quick]``); what each
workload measures, how fairness is kept and the figures we got are in ``benchmarks/README.md``.

Peers: ``skopeo`` (CLI), ``oras-py`` and ``python-dxf`` (each in a Python process of its own,
through its API), and the floor: parallel ``curl`` transfers of the same blobs plus ``openssl``
hashing. Workloads: a 200 MB image of 3 layers (push, pull, registry -> registry), one 1 GiB
blob (the same three; peak RSS is the point), an image of 200 small layers (request overhead),
``tag ls`` of 1,001 tags, and 1,000 / 10,000 tagged manifests put into one layout. Every run is
a whole process timed under GNU ``time``; tools alternate within each round; registries are real
``docker-registry`` processes on 127.0.0.1, a fresh one for every push target and per round for
every source. Medians are reported, with ratios ocistore / peer of the same run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import benchlib
from benchlib import MIB, OCISTORE, TAG, Run, Skopeo, build_image, machine, output, run, temp_root
from suite_report import checks, summarize, table
from suite_tools import TOOLS, Image, Job, command, verify

DRIVER = str(Path(__file__).resolve().with_name("peer_driver.py"))


@dataclass(frozen=True)
class Plan:
    """Rounds per workload (each round runs every tool once, in a rotated order)."""

    image: int
    gib: int
    small: int
    tags: int
    layout: int

    @classmethod
    def of(cls, quick: bool) -> Plan:
        return cls(1, 1, 1, 3, 1) if quick else cls(5, 2, 3, 7, 3)


@dataclass
class Result:
    workload: str
    op: str
    tool: str
    round: int
    seconds: float
    rss_kib: int
    cpu: float
    reg_cpu: float
    inner: float | None
    """Time of the operation alone, as the in-process peers measure it (None for CLIs)."""


class Bench:
    def __init__(self, work: Path, tools: list[str], skopeo: Skopeo | None) -> None:
        self.work = work
        self.tools = tools
        self.skopeo = skopeo
        self.results: list[Result] = []
        self.counter = 0

    # -- plumbing ----------------------------------------------------------------------------
    @contextmanager
    def registry(self) -> Iterator[str]:
        """A fresh registry (storage in the work dir's file system); yields its host."""
        from tests.support.registry import start_registry

        with temp_root(self.work), start_registry("anon") as reg:
            benchlib.REGISTRY_PIDS.append(reg.pid)
            try:
                yield reg.host
            finally:
                benchlib.REGISTRY_PIDS.remove(reg.pid)

    def fresh(self, stem: str) -> Path:
        self.counter += 1
        return self.work / f"{stem}{self.counter}"

    def timed(self, workload: str, tool: str, rnd: int, job: Job, tags: int = 0) -> None:
        cmd = command(tool, job, self.skopeo)
        result = self.skopeo.timed(cmd) if self.skopeo and tool == "skopeo" else run(cmd)
        verify(job, result.stdout, tags)
        self.record(workload, job.op, tool, rnd, result)

    def record(self, workload: str, op: str, tool: str, rnd: int, r: Run) -> None:
        inner = None
        if r.stdout.startswith("{") and '"inner"' in r.stdout:
            inner = float(json.loads(r.stdout.splitlines()[-1])["inner"])
        self.results.append(
            Result(workload, op, tool, rnd, r.seconds, r.rss_kib, r.cpu, r.reg_cpu, inner)
        )
        print(f"  {workload:16} {op:11} {tool:10} {r.seconds:7.3f}s {r.rss_kib / 1024:6.0f} MiB")

    def order(self, rnd: int) -> list[str]:
        """The tools, rotated by the round (and reversed on odd rounds): nobody always first."""
        k = rnd % len(self.tools)
        rotated = self.tools[k:] + self.tools[:k]
        return rotated[::-1] if rnd % 2 else rotated

    def seed(self, image: Image, host: str, repo: str) -> None:
        output(
            [
                OCISTORE,
                "image",
                "copy",
                "--no-progress",
                f"ocidir://{image.layout}:{TAG}",
                f"{host}/{repo}:{TAG}",
            ]
        )

    # -- workloads ---------------------------------------------------------------------------
    def image_ops(self, workload: str, image: Image, rounds: int) -> None:
        """Push (fresh registry per run), pull and registry -> registry (fresh per round)."""
        for rnd in range(rounds):
            for tool in self.order(rnd):
                with self.registry() as host:
                    job = Job(
                        "push", image, dst_host=host, dst_repo="bench/push", scratch=self.work
                    )
                    self.timed(workload, tool, rnd, job)
            with self.registry() as src:
                self.seed(image, src, "bench/src")
                for tool in self.order(rnd + 1):
                    dest = self.fresh("pull")
                    job = Job("pull", image, src, "bench/src", dest=dest, scratch=self.work)
                    self.timed(workload, tool, rnd, job)
                    shutil.rmtree(dest)
                for tool in self.order(rnd + 2):
                    with self.registry() as dst:
                        job = Job(
                            "copy", image, src, "bench/src", dst, "bench/copy", scratch=self.work
                        )
                        self.timed(workload, tool, rnd, job)

    def tag_list(self, image: Image, count: int, rounds: int) -> None:
        """``tag ls`` of a repository with ``count`` tags (one manifest under every tag)."""
        import requests

        with self.registry() as host:
            self.seed(image, host, "bench/tags")
            session = requests.Session()
            session.trust_env = False
            url = f"http://{host}/v2/bench/tags/manifests"
            for i in range(count - 1):
                r = session.put(
                    f"{url}/t{i:04d}", data=image.manifest,
                    headers={"Content-Type": image.media_type}, timeout=30,
                )  # fmt: skip
                r.raise_for_status()
            for rnd in range(rounds):
                for tool in self.order(rnd):
                    job = Job("tags", src_host=host, src_repo="bench/tags", scratch=self.work)
                    self.timed("tag ls 1001", tool, rnd, job, tags=count)

    def layout_puts(self, counts: list[int], rounds: int) -> None:
        """N tagged manifests into one layout through ocistore's API (no peer has a batch)."""
        for rnd in range(rounds):
            for n in counts if rnd % 2 == 0 else counts[::-1]:
                dest = self.fresh("puts")
                r = run([sys.executable, DRIVER, "ocistore", "layout-puts", str(dest), str(n)])
                tags = output([OCISTORE, "tag", "ls", f"ocidir://{dest}"]).splitlines()
                if len(tags) != n:
                    raise SystemExit(f"{dest}: {len(tags)} tags after {n} puts")
                self.record(f"layout {n} tags", "put", "ocistore", rnd, r)
                shutil.rmtree(dest)


def build(work: Path, name: str, sizes: list[int]) -> Image:
    layout = work / f"src-{name}"
    build_image(layout, work, sizes, f"suite-{name}")
    return Image.load(name, layout)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one round each (a few minutes)")
    ap.add_argument("--json", type=Path, help="raw results (default: a file in the temp dir)")
    ap.add_argument("--workdir", type=Path, default=Path("/dev/shm"),
                    help="file system for layouts and registries (default /dev/shm)")  # fmt: skip
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"subset of {','.join(TOOLS)}")
    ap.add_argument("--only", default="image,gib,small,tags,layout",
                    help="subset of image,gib,small,tags,layout")  # fmt: skip
    ap.add_argument("--rounds", type=int, help="rounds for every workload (overrides the plan)")
    ap.add_argument("--small-layers", type=int, default=200, help="layers of the small image")
    ap.add_argument("--tree", type=Path, help="run ocistore from this source tree")
    return ap.parse_args(argv)


def workloads(bench: Bench, args: argparse.Namespace, plan: Plan, images: list[Any]) -> None:
    """Build each source image and run the workloads ``--only`` names, in a fixed order."""
    only = set(args.only.split(","))
    work = bench.work

    def describe(image: Image) -> None:
        print(
            f"image {image.name}: {len(image.blobs)} blobs, {image.size / 1e6:.1f} MB, {image.digest}"
        )
        images.append(asdict(image) | {"layout": None, "manifest": None})

    if "image" in only or "tags" in only:
        img = build(work, "200MB", [66_666_667] * 3)
        describe(img)
        if "image" in only:
            bench.image_ops("image 200MB", img, plan.image)
        if "tags" in only:
            bench.tag_list(img, 1001, plan.tags)
        shutil.rmtree(img.layout)
    if "small" in only:
        small = build(work, f"{args.small_layers}x32KiB", [32 * 1024] * args.small_layers)
        describe(small)
        bench.image_ops(f"{args.small_layers} small layers", small, plan.small)
        shutil.rmtree(small.layout)
    if "gib" in only:
        gib = build(work, "1GiB", [1024 * MIB])
        describe(gib)
        bench.image_ops("1 GiB blob", gib, plan.gib)
        shutil.rmtree(gib.layout)
    if "layout" in only:
        bench.layout_puts([1000, 10000], plan.layout)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.tree:
        benchlib.use_tree(args.tree)
    tools = [t for t in args.tools.split(",") if t]
    if tools[0] != "ocistore" or not set(tools) <= set(TOOLS):
        raise SystemExit(f"--tools must start with ocistore and name only {', '.join(TOOLS)}")
    plan = Plan.of(args.quick)
    if args.rounds:
        plan = Plan(*([args.rounds] * 5))
    needed = ["/usr/bin/docker-registry", "/usr/bin/time"]
    needed += ["/usr/bin/skopeo"] if "skopeo" in tools else []
    needed += ["/usr/bin/curl", "/usr/bin/openssl"] if "curl" in tools else []
    for tool in needed:
        if not Path(tool).exists():
            raise SystemExit(f"missing {tool}: run scripts/bench (it installs what is missing)")
    started = datetime.datetime.now(datetime.UTC)
    print(machine())
    skopeo = Skopeo() if "skopeo" in tools else None
    report: dict[str, Any] = {"machine": machine(), "started": started.isoformat(), "quick": args.quick,
                              "plan": asdict(plan), "tools": tools, "images": []}  # fmt: skip
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="ocistore-suite-", dir=args.workdir))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        bench = Bench(work, tools, skopeo)
        workloads(bench, args, plan, report["images"])
    report["results"] = [asdict(r) for r in bench.results]
    report["summary"] = summarize(bench.results, tools)
    report["checks"] = checks(report["summary"])
    report["finished"] = datetime.datetime.now(datetime.UTC).isoformat()
    print()
    print("\n".join(table(report["summary"], report["checks"], tools)))
    path = args.json or Path(tempfile.gettempdir()) / f"ocistore-bench-{started:%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nraw results: {path}")
    return report


if __name__ == "__main__":
    main()
