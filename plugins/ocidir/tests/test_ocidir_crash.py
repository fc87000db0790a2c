"""Crash safety: a writer killed with SIGKILL at any moment leaves a layout that reads cleanly.

Random kills of a process that writes as fast as it can (big blobs, tags, sessions, deletes,
referrers, GC) cover the space statistically; the ``stall-*`` modes stop a writer at the exact
points that matter (index.json or a blob written to its temp file but not yet renamed; a blob
half streamed) and kill it there, so those cases are covered every run.
"""

from __future__ import annotations

import io
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ocidir_testlib import WORKER, verify_layout

from ocistore.testing.content import oci_image, push
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdout is not None
    got = proc.stdout.readline().strip()
    assert got == line, f"worker said {got!r} (exit code {proc.poll()})"


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout is not None
    proc.stdout.close()


def check_readable(path: Path) -> list[str]:
    """The outsider's check, then ours: every tag resolves and verifies through the scheme."""
    tags = verify_layout(path)
    scheme = OCIDir()
    ref = parse(f"ocidir://{path}")
    for tag in scheme.tag_list(ref):
        manifest = scheme.manifest_get(ref.with_tag(tag))
        for child in manifest.children():
            if manifest.is_index:
                scheme.manifest_get(ref.with_digest(child.digest))
            else:
                with scheme.blob_get(ref, child.digest, size=child.size) as r:
                    r.verify_to_end()
    return tags


def test_random_sigkill_during_writes_leaves_a_clean_layout(tmp_path: Path) -> None:
    path = tmp_path / "churn"
    rng = random.Random(1234)
    interrupted = 0  # rounds whose kill landed inside a write (a temp file was left)
    for round_ in range(12):
        proc = start("churn", str(path), str(round_))
        wait_for(proc, "started")
        time.sleep(rng.uniform(0.0, 0.6))
        kill(proc)
        check_readable(path)
        interrupted += bool(list(path.rglob(".*.tmp")))
    # a later writer's GC clears what the killed ones left behind, temp files included
    scheme = OCIDir()
    ref = parse(f"ocidir://{path}")
    push(scheme, ref.with_tag("final"), oci_image("final"))
    scheme.close(ref)
    assert not [p for p in path.rglob(".*.tmp")]
    assert "final" in check_readable(path)
    print(f"{interrupted} of 12 kills landed inside a write")


@pytest.mark.parametrize("where", ["index", "blob", "stream"])
def test_sigkill_at_the_critical_point_of_a_write(tmp_path: Path, where: str) -> None:
    path = tmp_path / "stall"
    scheme = OCIDir()
    ref = parse(f"ocidir://{path}")
    before = oci_image("before")
    push(scheme, ref.with_tag("before"), before)
    blobs_before = {p.name for p in (path / "blobs/sha256").iterdir()}
    index_before = (path / "index.json").read_bytes()
    proc = start(f"stall-{where}", str(path))
    wait_for(proc, "stalled")
    kill(proc)
    assert check_readable(path) == ["before"]
    assert (path / "index.json").read_bytes() == index_before
    temps = list(path.rglob(".*.tmp"))
    assert temps, "the killed writer should have left its temp file"
    stalled = oci_image("stall")
    allowed = {d.encoded for d in [*stalled.blobs, stalled.digest]}  # written before index.json
    new_blobs = {p.name for p in (path / "blobs/sha256").iterdir()} - blobs_before
    assert {n for n in new_blobs if not n.startswith(".")} <= allowed
    # the layout keeps working, and the next collection removes the leftovers
    scheme.blob_put(ref, None, io.BytesIO(b"after"), 5)
    scheme.close(ref)
    assert not list(path.rglob(".*.tmp"))
    assert check_readable(path) == ["before"]
