"""``ocistore scheme new``: the skeleton pip-installs, is listed by ``ocistore scheme list``,
and its own conformance test (the kit's UnsupportedTests) passes as generated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OCISTORE = [sys.executable, "-m", "ocistore"]


def _env(*paths: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OCISTORE_")}
    environ["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return environ


def test_a_generated_skeleton_installs_is_listed_and_passes_the_kit(tmp_path: Path) -> None:
    made = subprocess.run(
        [*OCISTORE, "scheme", "new", "sqlite", "-C", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    root = tmp_path / "ocistore-sqlite"
    assert (root / "src" / "ocistore_sqlite" / "scheme.py").is_file()

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    listed = subprocess.run(
        [*OCISTORE, "--format", "json", "scheme", "list"],
        capture_output=True,
        text=True,
        env=_env(site),
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    rows = {row["scheme"]: row for row in json.loads(listed.stdout)["schemes"]}
    assert rows["sqlite"]["distribution"] == "ocistore-sqlite"
    assert rows["sqlite"]["capabilities"]["blob_mount"] is False

    kit = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        capture_output=True,
        text=True,
        env=_env(site),
        cwd=root,
        check=False,
    )
    assert kit.returncode == 0, kit.stdout + kit.stderr
    assert " passed" in kit.stdout
    assert "skipped" not in kit.stdout
    assert "failed" not in kit.stdout


def test_a_bad_name_or_an_existing_directory_is_a_usage_error(tmp_path: Path) -> None:
    bad = subprocess.run(
        [*OCISTORE, "scheme", "new", "Bad-Name", "-C", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "invalid scheme name 'Bad-Name'" in bad.stderr
    (tmp_path / "ocistore-taken").mkdir()
    taken = subprocess.run(
        [*OCISTORE, "scheme", "new", "taken", "-C", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert taken.returncode == 2
    assert "already exists" in taken.stderr
