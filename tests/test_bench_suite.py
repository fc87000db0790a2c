"""The benchmark suite's harness works (``benchmarks/suite.py``; the figures are not tested).

One small workload for ocistore alone, through the real command line, against real registries:
the run must finish, every run must have been timed and measured, and the JSON must have the
shape the README documents. The target checks the harness makes after every run (manifest
digest, every blob with its size) are shown to fail on a wrong or damaged target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
pytestmark = pytest.mark.registry


def test_suite_runs_one_small_workload_for_ocistore(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    cmd = [sys.executable, str(BENCH / "suite.py"), "--tools", "ocistore", "--only", "small"]
    cmd += ["--small-layers", "3", "--rounds", "1", "--workdir", str(tmp_path), "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "median wall time" in proc.stdout
    report = json.loads(out.read_text())
    assert report["tools"] == ["ocistore"]
    [image] = report["images"]
    assert image["digest"].startswith("sha256:")
    assert len(image["blobs"]) == 4  # config + 3 layers
    runs = report["results"]
    assert sorted(r["op"] for r in runs) == ["copy", "pull", "push"]
    for r in runs:
        assert r["tool"] == "ocistore"
        assert r["workload"] == "3 small layers"
        assert r["seconds"] > 0
        assert r["rss_kib"] > 1024  # a Python process: GNU time measured the child, not us
        assert r["cpu"] > 0
    for row in report["summary"]:
        assert row["ratio"] == pytest.approx(1.0)
        assert row["runs"] == 1
    assert report["checks"] == []  # no peer, no 200 MB image: no target to check
    assert not list(tmp_path.glob("ocistore-suite-*")), "the work directory is left behind"


def test_target_checks_catch_a_wrong_or_damaged_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    from benchlib import TAG, build_image
    from suite_tools import Image, verify_layout

    layout = tmp_path / "src"
    build_image(layout, tmp_path, [1000, 2000], "smoke")
    image = Image.load("smoke", layout)
    verify_layout(layout, image)

    other = tmp_path / "other"
    build_image(other, tmp_path, [1000, 2001], "smoke")
    with pytest.raises(SystemExit, match=f"tag {TAG} is sha256:"):
        verify_layout(other, image)

    blob = layout / "blobs" / "sha256" / image.blobs[1]["digest"].split(":")[1]
    blob.write_bytes(blob.read_bytes()[:-1])
    with pytest.raises(SystemExit, match="missing or of the wrong size"):
        verify_layout(layout, image)
