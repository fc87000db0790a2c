"""Benchmark: pushing N tagged manifests into one layout, with and without a session.

Without a session every tagged push rewrites index.json under the lock, so the bytes written
grow as O(N^2); inside ``OCIDir.session`` the changes are batched and index.json is written once.
Run from the repository root::

    .venv/bin/python plugins/ocidir/benchmarks/many_tags.py [N ...]

It prints, per mode and N: wall time, index.json writes and bytes written, and the bytes that
were written for manifests themselves (the same in both modes, for scale).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ocistore import mediatype as mt
from ocistore.descriptor import EMPTY_DESCRIPTOR
from ocistore.manifest import Manifest
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir


def manifests(n: int) -> list[Manifest]:
    """``n`` small, distinct artifact manifests (an annotation makes each one unique)."""
    return [
        Manifest.from_data(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "artifactType": "application/vnd.example.bench",
                "config": EMPTY_DESCRIPTOR.to_dict(),
                "layers": [],
                "annotations": {"n": str(i)},
            }
        )
        for i in range(n)
    ]


def run(n: int, batched: bool, base: Path) -> dict[str, float]:
    scheme = OCIDir()
    ref = parse(f"ocidir://{base}/{'session' if batched else 'plain'}-{n}")
    items = manifests(n)
    start = time.perf_counter()
    if batched:
        with scheme.session(ref):
            for i, m in enumerate(items):
                scheme.manifest_put(ref.with_tag(f"t{i}"), m)
    else:
        for i, m in enumerate(items):
            scheme.manifest_put(ref.with_tag(f"t{i}"), m)
    elapsed = time.perf_counter() - start
    stats = scheme.index_stats(ref)
    assert len(scheme.tag_list(ref)) == n
    return {
        "seconds": elapsed,
        "index_writes": stats.writes,
        "index_bytes": stats.bytes_written,
        "manifest_bytes": sum(m.size for m in items),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 3000, 10000])
    parser.add_argument(
        "--plain-max",
        type=int,
        default=3000,
        help="skip the unbatched run above this N (it grows quadratically)",
    )
    args = parser.parse_args()
    print(
        f"{'mode':8} {'N':>6} {'seconds':>9} {'per tag ms':>10} {'index writes':>12} "
        f"{'index MiB':>10} {'manifest MiB':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for batched in (False, True):
                if not batched and n > args.plain_max:
                    continue
                r = run(n, batched, Path(tmp))
                print(
                    f"{'session' if batched else 'plain':8} {n:>6} {r['seconds']:>9.2f} "
                    f"{1000 * r['seconds'] / n:>10.2f} {int(r['index_writes']):>12} "
                    f"{r['index_bytes'] / 2**20:>10.2f} {r['manifest_bytes'] / 2**20:>12.3f}"
                )


if __name__ == "__main__":
    main()
