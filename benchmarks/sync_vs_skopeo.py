"""``ocistore sync run`` next to ``skopeo sync``: many small repositories, registry to registry.

The source registry holds REPOS repositories of TAGS tags each (default 50 x 5); every tag is a
small image (one layer shared by the repository's tags, one of its own, a config). Both tools
mirror all of it into a second registry, each into fresh repositories per round, and after
every run each target tag's digest is checked against its source. Then each tool runs once
more over what it just mirrored: the "nothing to do" run that a nightly mirror mostly is.

Fairness: the same registries and source; the tools alternate which goes first; skopeo gets
``--preserve-digests`` (no re-encoding) and, as root, a private empty blob-info cache per run
(``unshare -m`` + tmpfs; its wrapper's start-up is measured and taken off), so it cannot mount
blobs it saw in an earlier round. ocistore runs with its defaults (4 tags at once, 8 requests
in flight per host); skopeo sync copies one image at a time, which is how it works.

    .venv/bin/python benchmarks/sync_vs_skopeo.py                 # 50 x 5, best of 3
    .venv/bin/python benchmarks/sync_vs_skopeo.py --repos 10 --tags 2 --repeat 1   # smoke run

Only loopback registries are used. The figure to read is "ratio" = ocistore time / skopeo
time (the goal is <= 0.5).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchlib import SKOPEO, Skopeo  # noqa: E402

OCISTORE = str(Path(sys.executable).with_name("ocistore"))


def skopeo_wrapper() -> tuple[list[str], float]:
    """A private, empty blob-info cache for each skopeo run (root only), and its cost."""
    skopeo = Skopeo()
    return skopeo.wrap, skopeo.overhead


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        failed = ""
        if proc.stdout.startswith("{"):  # an ocistore report: show what failed
            report = json.loads(proc.stdout)
            failed = "\n".join(
                f"{t['target']}: {t.get('error')}"
                for e in report["entries"]
                for t in e["tags"]
                if t["status"] == "failed"
            ) + "".join(
                f"\n{e['entry']}: {e['error']}" for e in report["entries"] if e.get("error")
            )
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}{failed}")
    return seconds


def seed(host: str, prefix: str, repos: int, tags: int) -> dict[str, str]:
    """Push the source repositories; returns ``repo:tag -> digest``."""
    from concurrent.futures import ThreadPoolExecutor

    from ocistore import Client
    from ocistore.testing import content

    digests: dict[str, str] = {}

    def push_repo(r: int) -> None:
        repo = f"{host}/{prefix}/r{r:02d}"
        base = content.oci_image(f"{prefix}-{r}-base", layers=1)
        base_layer = base.manifest.layers[0]
        with Client() as client:
            for t in range(tags):
                image = content.oci_image(f"{prefix}-{r}-{t}", layers=1)
                data = json.loads(image.manifest.raw)
                data["layers"].insert(0, base_layer.to_dict())
                from ocistore.manifest import Manifest

                manifest = Manifest.from_data(data)
                blobs = {**image.blobs, base_layer.digest: base.blobs[base_layer.digest]}
                for digest, blob in blobs.items():
                    client.blob_put(repo, io.BytesIO(blob), digest=digest, length=len(blob))
                client.manifest_put(f"{repo}:v{t}", manifest)
                digests[f"r{r:02d}:v{t}"] = str(manifest.digest)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(push_repo, range(repos)))
    return digests


def verify(host: str, prefix: str, want: dict[str, str]) -> None:
    from ocistore import Client

    with Client() as client:
        for key, digest in want.items():
            repo, tag = key.split(":")
            got = str(client.image_digest(f"{host}/{prefix}/{repo}:{tag}"))
            if got != digest:
                raise SystemExit(f"{host}/{prefix}/{repo}:{tag} has {got}, expected {digest}")


def ocistore_config(
    path: Path, src: str, dst: str, *, prefixes: tuple[str, str], n: int, parallel: int
) -> None:
    src_prefix, dst_prefix = prefixes
    lines = ["version = 1", "", "[defaults]", f"parallel = {parallel}", ""]
    for r in range(n):
        lines += [
            "[[sync]]",
            f'source = "{src}/{src_prefix}/r{r:02d}"',
            f'target = "{dst}/{dst_prefix}/r{r:02d}"',
            "",
        ]
    path.write_text("\n".join(lines))


def skopeo_config(path: Path, src: str, src_prefix: str, n: int) -> None:
    lines = [f"{src}:", "  tls-verify: false", "  images:"]
    lines += [f"    {src_prefix}/r{r:02d}: []" for r in range(n)]
    path.write_text("\n".join(lines) + "\n")


def run_ocistore(
    work: Path,
    *,
    src: str,
    dst: str,
    target: str,
    prefix: str,
    n: int,
    env: dict[str, str],
    images: int,
    parallel: int,
) -> tuple[float, float]:
    config = work / f"{target}.toml"
    ocistore_config(config, src, dst, prefixes=(prefix, target), n=n, parallel=parallel)
    cmd = [OCISTORE, "sync", "run", "--no-progress", "--format", "json", str(config)]
    seconds = timed(cmd, env)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    noop = time.perf_counter() - t0
    report = json.loads(proc.stdout)
    if report["copied"] != 0 or report["skipped"] != images:
        raise SystemExit(f"ocistore's repeat run was not a no-op: {report['copied']} copied")
    return seconds, noop


def run_skopeo(
    wrap: list[str], overhead: float, yaml: Path, *, dst: str, target: str, env: dict[str, str]
) -> tuple[float, float]:
    cmd = [
        *wrap,
        SKOPEO,
        "sync",
        "--src",
        "yaml",
        "--dest",
        "docker",
        "--dest-tls-verify=false",
        "--preserve-digests",
        str(yaml),
        f"{dst}/{target}",  # without --scoped, source repo PREFIX/rNN lands at DEST/rNN
    ]
    return max(timed(cmd, env) - overhead, 1e-6), max(timed(cmd, env) - overhead, 1e-6)


def report(figures: dict[str, list[float]], images: int, out: Path | None) -> None:
    best = {k: min(v) for k, v in figures.items()}
    print()
    print(f"{'':<22}{'ocistore':>10}{'skopeo':>10}{'ratio':>8}")
    for label, ours, theirs in (
        (f"mirror {images} images", "ocistore", "skopeo"),
        ("repeat run (no-op)", "ocistore_noop", "skopeo_noop"),
    ):
        ratio = best[ours] / best[theirs]
        print(f"{label:<22}{best[ours]:>9.2f}s{best[theirs]:>9.2f}s{ratio:>8.2f}")
    print("ratio = ocistore time / skopeo time, best of each; goal for the mirror: <= 0.5")
    print(f"load average after the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if out:
        out.write_text(json.dumps({"figures": figures, "best": best}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--tags", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4, help="ocistore's parallel")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    for tool in (SKOPEO, OCISTORE):
        if not Path(tool).exists():
            raise SystemExit(f"missing {tool}: run scripts/test once (it installs skopeo)")
    from tests.support.registry import start_registry

    wrap, overhead = skopeo_wrapper()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(
        f"skopeo: private empty blob-info cache per run ({overhead * 1000:.1f} ms wrapper "
        "taken off)"
        if wrap
        else "warning: skopeo keeps its blob-info cache between runs (not root)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCISTORE_")}
    figures: dict[str, list[float]] = {
        "ocistore": [],
        "skopeo": [],
        "ocistore_noop": [],
        "skopeo_noop": [],
    }
    with ExitStack() as stack:
        src = stack.enter_context(start_registry("anon"))
        dst = stack.enter_context(start_registry("anon"))
        work = Path(tempfile.mkdtemp(prefix="ocistore-sync-bench-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        env["DOCKER_CONFIG"] = str(work / "docker")
        prefix = f"bench{os.getpid()}"
        t0 = time.perf_counter()
        want = seed(src.host, prefix, args.repos, args.tags)
        print(
            f"source: {args.repos} repositories x {args.tags} tags = {len(want)} images "
            f"(seeded in {time.perf_counter() - t0:.1f}s); ocistore parallel = {args.parallel}"
        )
        yaml = work / "skopeo.yaml"
        skopeo_config(yaml, src.host, prefix, args.repos)
        for round_no in range(args.repeat):
            order = ("ocistore", "skopeo") if round_no % 2 == 0 else ("skopeo", "ocistore")
            for tool in order:
                target = f"{tool}{round_no}"
                if tool == "ocistore":
                    seconds, noop = run_ocistore(
                        work,
                        src=src.host,
                        dst=dst.host,
                        target=target,
                        prefix=prefix,
                        n=args.repos,
                        env=env,
                        images=len(want),
                        parallel=args.parallel,
                    )
                else:
                    seconds, noop = run_skopeo(
                        wrap, overhead, yaml, dst=dst.host, target=target, env=env
                    )
                verify(dst.host, target, want)
                figures[tool].append(seconds)
                figures[f"{tool}_noop"].append(noop)
                print(f"round {round_no + 1}: {tool:<8} {seconds:7.2f}s  (repeat run {noop:6.2f}s)")
    report(figures, len(want), args.json)


if __name__ == "__main__":
    main()
