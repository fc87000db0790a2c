"""Peak RSS of copies into and out of OCI layout tars, for two image sizes side by side.

Flat memory is the claim: a copy streams each blob (reading seeks to its tar member; writing
appends it once), so peak RSS should not grow with the image. Each step runs in a child process
of its own, whose ``ru_maxrss`` is its peak; the ratio column compares the sizes.

    .venv/bin/python plugins/ocifile/benchmarks/peak_rss.py              # 64 MiB and 1 GiB
    .venv/bin/python plugins/ocifile/benchmarks/peak_rss.py --sizes 16 256

The image is one random layer of the given size plus a small one, seeded into an OCI layout
directory by streaming (the seeding never holds the layer either). Everything stays on local
disk under a temporary directory (about three times the largest size).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 1024 * 1024


class _Random(io.RawIOBase):
    """``size`` pseudo-random bytes, generated as read (a counter through sha256)."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._counter = 0
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        while len(self._buf) < min(len(b), self._left):
            block = hashlib.sha256(self._counter.to_bytes(8, "big")).digest()
            self._buf += block * 2048  # 64 KiB
            self._counter += 1
        n = min(len(b), self._left, len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self._left -= n
        return n


def _seed(layout: str, size: int) -> None:
    from ocistore import mediatype as mt
    from ocistore.client import Client
    from ocistore.manifest import Manifest

    with Client() as client:
        ref = client.parse(f"ocidir://{layout}:v1")
        layer_digest, layer_size = client.blob_put(
            ref, io.BufferedReader(_Random(size), 4 * MIB), length=size
        )
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        config_digest, _ = client.blob_put(ref, io.BytesIO(config), length=len(config))
        manifest = Manifest.from_data(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {
                    "mediaType": mt.OCI_CONFIG,
                    "digest": str(config_digest),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": mt.OCI_LAYER, "digest": str(layer_digest), "size": layer_size}
                ],
            }
        )
        client.manifest_put(ref, manifest)


def _copy(source: str, target: str) -> None:
    from ocistore.client import Client

    with Client() as client:
        client.image_copy(source, target)


def _measure(size_mib: int, work: Path) -> dict[str, int]:
    base = work / f"{size_mib}m"
    base.mkdir()
    layout, tar, back = base / "layout", base / "image.tar", base / "back"
    out = {}
    # each measured step in its own child, so one step's peak cannot hide in another's
    subprocess.run(
        [sys.executable, __file__, "--step", "seed", str(layout), str(size_mib * MIB)], check=True
    )
    out["layout -> tar"] = _probe("copy", f"ocidir://{layout}:v1", f"ocifile://{tar}:v1")
    out["tar -> layout"] = _probe("copy", f"ocifile://{tar}:v1", f"ocidir://{back}:v1")
    out["tar size MiB"] = tar.stat().st_size // MIB
    return out


def _probe(step: str, *args: str) -> int:
    proc = subprocess.run(
        [sys.executable, __file__, "--step", step, "--report", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs=2, type=int, default=[64, 1024], metavar="MIB")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.step == "seed":
        _seed(a.args[0], int(a.args[1]))
        return
    if a.step == "copy":
        _copy(a.args[0], a.args[1])
        if a.report:
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return
    small, large = sorted(a.sizes)
    with tempfile.TemporaryDirectory(prefix="ocifile-rss.", dir=os.environ.get("TMPDIR")) as tmp:
        results = {size: _measure(size, Path(tmp)) for size in (small, large)}
    print(f"{'peak RSS (MiB)':<16}{small:>8} MiB{large:>10} MiB{'ratio':>8}")
    for step in ("layout -> tar", "tar -> layout"):
        lo, hi = results[small][step] / 1024, results[large][step] / 1024
        print(f"{step:<16}{lo:>12.1f}{hi:>14.1f}{hi / lo:>8.2f}")
    sizes = "  ".join(
        f"{s} MiB image -> {results[s]['tar size MiB']} MiB tar" for s in (small, large)
    )
    print(sizes)


if __name__ == "__main__":
    main()
