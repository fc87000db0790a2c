"""What the benchmark scripts share: timed child runs, skopeo's wrapper, source images.

``copy_vs_skopeo.py`` and ``suite.py`` both time whole processes under GNU ``time`` (peak RSS
and CPU of the command alone), run skopeo with a private blob-info cache, and build images of
incompressible layers into an OCI layout; this module holds those pieces once.
"""

from __future__ import annotations

import datetime
import gzip
import io
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ENV",
    "GNU_TIME",
    "MIB",
    "OCISTORE",
    "REGISTRY_PIDS",
    "ROOT",
    "SKOPEO",
    "TAG",
    "Run",
    "Skopeo",
    "build_image",
    "gzip_layer",
    "machine",
    "output",
    "registry_cpu",
    "run",
    "temp_root",
    "use_tree",
]

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OCISTORE = str(Path(sys.executable).with_name("ocistore"))
SKOPEO = "/usr/bin/skopeo"
GNU_TIME = "/usr/bin/time"
SKOPEO_CACHE = Path("/var/lib/containers/cache")
TAG = "bench"
MIB = 1024 * 1024
SRC_DIRS = ("core/src", "plugins/ocidir/src", "plugins/reg/src")

#: Environment of every child (``use_tree`` points PYTHONPATH at another source tree).
ENV: dict[str, str] = dict(os.environ)
#: Registry processes whose CPU time each run reports.
REGISTRY_PIDS: list[int] = []


def use_tree(tree: Path) -> None:
    """Run ocistore from the sources under ``tree`` (a checkout or ``git archive`` of the repo).

    The venv's editable installs are plain ``.pth`` path entries, which ``PYTHONPATH`` precedes.
    """
    dirs = [str((tree / d).resolve()) for d in SRC_DIRS]
    for d in dirs:
        if not Path(d).is_dir():
            raise SystemExit(f"--tree {tree}: no {d}")
    ENV["PYTHONPATH"] = os.pathsep.join([*dirs, ENV.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    sys.path[:0] = dirs


# -- running commands ---------------------------------------------------------------------------
@dataclass
class Run:
    seconds: float
    rss_kib: int
    cpu: float
    """User + system CPU seconds of the command."""
    reg_cpu: float
    """CPU seconds the registries spent while the command ran."""
    stdout: str = ""


def registry_cpu() -> float:
    ticks = 0
    for pid in REGISTRY_PIDS:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run(cmd: Sequence[str], *, sync: bool = True) -> Run:
    """Run ``cmd`` under GNU time: wall time from here, peak RSS and CPU of the command alone.

    ``wait4`` in this process would report our own RSS for the child (memory counted at fork
    time survives ``exec``), so the small ``time`` process does the forking and reports.
    Stdout is kept (the in-process peers print their own inner timings there).
    """
    if sync:
        os.sync()  # earlier runs' dirty pages are written back now, not during this run
    with tempfile.NamedTemporaryFile("r", prefix="bench-rss-") as out:
        full = [GNU_TIME, "-f", "%M %U %S", "-o", out.name, *cmd]
        reg = registry_cpu()
        start = time.perf_counter()
        proc = subprocess.run(full, capture_output=True, env=ENV, check=False)
        elapsed = time.perf_counter() - start
        reg = registry_cpu() - reg
        if proc.returncode != 0:
            raise SystemExit(
                f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                f"{proc.stdout.decode(errors='replace')[-2000:]}"
                f"{proc.stderr.decode(errors='replace')[-4000:]}"
            )
        rss, user, system = Path(out.name).read_text().split()[-3:]
    return Run(elapsed, int(rss), float(user) + float(system), reg, proc.stdout.decode())


def output(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV).stdout.strip()


class Skopeo:
    """``skopeo`` with equivalent options and, where possible, a fresh blob-info cache per run."""

    def __init__(self) -> None:
        self.wrap: list[str] = []
        self.overhead = 0.0
        self.isolated = False
        if os.geteuid() == 0 and shutil.which("unshare"):
            wrap = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                'mkdir -p "$0" && mount -t tmpfs -o size=64m bench-cache "$0" && exec "$@"',
                str(SKOPEO_CACHE),
            ]
            probe = subprocess.run([*wrap, "true"], capture_output=True, check=False)
            if probe.returncode == 0:
                self.wrap, self.isolated = wrap, True
                self.overhead = min(run([*wrap, "true"]).seconds for _ in range(5))

    def copy(self, src: str, dst: str) -> list[str]:
        return [
            *self.wrap,
            SKOPEO,
            "copy",
            "-q",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            src,
            dst,
        ]

    def timed(self, cmd: list[str]) -> Run:
        """Run a wrapped command; the wrapper's own start-up is taken off the time."""
        result = run(cmd)
        if cmd[: len(self.wrap)] == self.wrap:
            result.seconds = max(result.seconds - self.overhead, 1e-6)
        return result


# -- source images ------------------------------------------------------------------------------
def gzip_layer(path: Path, size: int, seed: str) -> None:
    """A real gzip stream of ``size`` random bytes (stored blocks: fast, incompressible)."""
    rng = random.Random(seed)
    left = size
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=0, mtime=0) as gz,
    ):
        while left:
            n = min(left, 8 * MIB)
            gz.write(rng.randbytes(n))
            left -= n


def build_image(layout: Path, scratch: Path, sizes: Sequence[int], seed: str) -> tuple[int, str]:
    """An OCI image with one random gzip layer per entry of ``sizes`` (bytes), tagged ``TAG``.

    Returns (bytes of all blobs, manifest digest).
    """
    from ocistore import Router, Settings
    from ocistore import mediatype as mt
    from ocistore.descriptor import Descriptor
    from ocistore.digest import Digest
    from ocistore.manifest import Manifest
    from ocistore.testing.content import oci_image

    router = Router()
    scheme = router.spec("ocidir").factory(Settings())
    ref = router.parse(f"ocidir://{layout}:{TAG}")
    total = 0
    layer_descs = []
    with scheme.batch(ref):
        for i, size in enumerate(sizes):
            tmp = scratch / f"layer-{i}.gz"
            gzip_layer(tmp, size, f"{seed}-{i}")
            with tmp.open("rb") as fh:
                digest, stored = scheme.blob_put(ref, None, fh, tmp.stat().st_size)
            tmp.unlink()
            layer_descs.append(Descriptor(mt.OCI_LAYER_GZIP, digest, stored).to_dict())
            total += stored
        base = oci_image(TAG, layers=1)
        config = base.manifest.config
        assert config is not None
        cfg = base.blobs[config.digest]
        scheme.blob_put(ref, Digest.from_bytes(cfg), io.BytesIO(cfg), len(cfg))
        total += len(cfg)
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
    return total, str(man.digest)


# -- report -------------------------------------------------------------------------------------
def machine() -> str:
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024)
    return (
        f"{datetime.date.today()}, {os.cpu_count()} cores, {mem} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {output([SKOPEO, '--version'])}, "
        f"{output(['/usr/bin/docker-registry', '--version'])}"
    )


@contextmanager
def temp_root(directory: Path | None) -> Iterator[None]:
    """Make ``tempfile`` (and so the registry harness) create its directories in ``directory``."""
    saved = tempfile.tempdir
    tempfile.tempdir = str(directory) if directory is not None else saved
    try:
        yield
    finally:
        tempfile.tempdir = saved
