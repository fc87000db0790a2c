"""Copy speed and memory, ocistore side by side with skopeo on this machine.

Run: ``.venv/bin/python benchmarks/copy_vs_skopeo.py [--layers 8] [--layer-mib 32] [--repeat 3]``

It writes one source image (incompressible random layers) into an OCI layout, starts the real
registry on 127.0.0.1 (``docker-registry``, through the test harness), and times the same copies
with ``ocistore image copy`` and ``skopeo copy``:

* layout -> layout, layout -> registry, registry -> layout, registry -> registry (other repo);
* start-up: ``ocistore --help`` against ``skopeo --help``.

It prints wall time (best of ``--repeat``), throughput and peak RSS of each command, and the ratio
skopeo/ocistore (above 1: ocistore is faster). Each run copies into a fresh target, so no run
benefits from skip-existing. Nothing here asserts: it is a measurement to read.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocistore import Router, Settings  # noqa: E402
from ocistore import mediatype as mt  # noqa: E402
from ocistore.descriptor import Descriptor  # noqa: E402
from ocistore.digest import Digest  # noqa: E402
from ocistore.manifest import Manifest  # noqa: E402
from ocistore.testing.content import oci_image, random_bytes  # noqa: E402

OCISTORE = str(Path(sys.executable).with_name("ocistore"))


def run(cmd: list[str]) -> tuple[float, int]:
    """Run ``cmd``; return (seconds, peak RSS in KiB) of that child alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return elapsed, usage.ru_maxrss


def build_source(layout: Path, layers: int, layer_mib: int) -> int:
    """An OCI image with big random layers, written through the ocidir scheme."""
    router = Router()
    scheme = router.spec("ocidir").factory(Settings())
    ref = router.parse(f"ocidir://{layout}:bench")
    base = oci_image("bench", layers=1)
    total = 0
    layer_descs = []
    for i in range(layers):
        data = random_bytes(layer_mib * 1024 * 1024, f"bench-{i}")
        digest, size = scheme.blob_put(ref, None, io.BytesIO(data), len(data))
        layer_descs.append(Descriptor(mt.OCI_LAYER_GZIP, digest, size).to_dict())
        total += size
    config = base.manifest.config
    assert config is not None
    cfg = base.blobs[config.digest]
    scheme.blob_put(ref, Digest.from_bytes(cfg), io.BytesIO(cfg), len(cfg))
    man = Manifest.from_data(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": config.to_dict(),
            "layers": layer_descs,
        }
    )
    scheme.manifest_put(ref, man)
    scheme.close(ref)
    return total


def best(cmds: list[list[str]], reset: callable | None = None) -> tuple[float, int]:  # type: ignore[valid-type]
    results = []
    for cmd in cmds:
        if reset:
            reset()
        results.append(run(cmd))
    return min(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--layer-mib", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for tool in ("/usr/bin/skopeo", OCISTORE):
        if not Path(tool).exists():
            raise SystemExit(
                f"missing {tool}: run scripts/test once (it installs skopeo) or scripts/bootstrap"
            )

    from tests.support.registry import start_registry

    work = Path(tempfile.mkdtemp(prefix="ocistore-bench-"))
    src = work / "src"
    total = build_source(src, args.layers, args.layer_mib)
    mib = total / 1024 / 1024
    print(
        f"image: {args.layers} layers x {args.layer_mib} MiB = {mib:.0f} MiB, best of {args.repeat}"
    )
    rows = []
    with start_registry("anon") as reg:
        host = reg.host
        counter = iter(range(10_000))

        def fresh(kind: str) -> tuple[str, str]:
            n = next(counter)
            if kind == "dir":
                d = work / f"dst{n}"
                return f"ocidir://{d}:bench", f"oci:{d}:bench"
            return f"{host}/bench/t{n}:bench", f"docker://{host}/bench/t{n}:bench"

        # Seed the registry once so that registry sources exist.
        run([OCISTORE, "image", "copy", f"ocidir://{src}:bench", f"{host}/bench/src:bench"])
        cases = {
            "layout -> layout": (f"ocidir://{src}:bench", f"oci:{src}:bench", "dir"),
            "layout -> registry": (f"ocidir://{src}:bench", f"oci:{src}:bench", "reg"),
            "registry -> layout": (
                f"{host}/bench/src:bench",
                f"docker://{host}/bench/src:bench",
                "dir",
            ),
            "registry -> registry": (
                f"{host}/bench/src:bench",
                f"docker://{host}/bench/src:bench",
                "reg",
            ),
        }
        skopeo = ["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false"]
        for name, (ours_src, their_src, kind) in cases.items():
            ours = [
                [OCISTORE, "image", "copy", ours_src, fresh(kind)[0]] for _ in range(args.repeat)
            ]
            theirs = [[*skopeo, their_src, fresh(kind)[1]] for _ in range(args.repeat)]
            t_ours, rss_ours = best(ours)
            t_theirs, rss_theirs = best(theirs)
            rows.append((name, t_ours, t_theirs, rss_ours, rss_theirs))
    start_ours, _ = best([[OCISTORE, "--help"]] * args.repeat)
    start_theirs, _ = best([["skopeo", "--help"]] * args.repeat)
    print()
    print(
        f"{'case':22} {'ocistore':>10} {'skopeo':>10} {'ratio':>7} {'MiB/s ours':>11} {'RSS ours':>9} {'RSS skopeo':>10}"
    )
    for name, a, b, ra, rb in rows:
        print(
            f"{name:22} {a:9.2f}s {b:9.2f}s {b / a:6.2f}x {mib / a:10.0f} {ra / 1024:8.0f}M {rb / 1024:9.0f}M"
        )
    print(
        f"{'start-up (--help)':22} {start_ours:9.3f}s {start_theirs:9.3f}s {start_theirs / start_ours:6.2f}x"
    )
    print("\nratio = skopeo time / ocistore time (above 1: ocistore is faster)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
