"""The entry-point cache never hides what is installed: real pip installs into a target directory.

Each test gives the interpreter its own cache directory (``OCISTORE_CACHE_DIR``) and a target
directory on ``PYTHONPATH``, then installs or removes a fixture plugin between two starts and
checks that the second start sees the change at once, and that an unchanged start is answered
from the cache without importing ``importlib_metadata``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_plugins import FIXTURES, run

#: Prints the schemes a fresh Router finds and whether importlib_metadata had to be imported.
PROBE = (
    "import json, sys; from ocistore import Router; r = Router(); names = sorted(r.schemes()); "
    "print(json.dumps({'schemes': names, 'owners': [str(r.owner(n)) for n in names], "
    "'scanned': 'importlib_metadata' in sys.modules}))"
)


def probe(target: Path, cache: Path, **env: str) -> dict[str, object]:
    proc = run(PROBE, target, OCISTORE_CACHE_DIR=str(cache), **env)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def pip_install(name: str, target: Path, scratch: Path) -> None:
    # Build from a copy: an in-tree build would leave build/ and *.egg-info behind.
    source = scratch / name
    shutil.copytree(FIXTURES / name, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )


def cache_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("entry-points-*.json"))


def test_a_plugin_installed_after_the_cache_was_written_is_found_at_once(
    tmp_path: Path,
) -> None:
    target, cache = tmp_path / "site", tmp_path / "cache"
    target.mkdir()
    first = probe(target, cache)
    shipped = first["schemes"]
    assert isinstance(shipped, list)
    assert {"ocidir", "reg"} <= set(shipped)
    assert first["scanned"] is True
    assert len(cache_files(cache)) == 1
    again = probe(target, cache)
    assert again == {**first, "scanned": False}, "nothing changed: answered from the cache"

    pip_install("example", target, tmp_path)
    found = probe(target, cache)
    assert found["schemes"] == sorted([*shipped, "example"])
    assert "example (ocistore-example-plugin 1.2.3)" in found["owners"]  # type: ignore[operator]
    assert found["scanned"] is True
    assert probe(target, cache) == {**found, "scanned": False}

    # ... and one removed is gone at once too (what pip uninstall removes)
    for path in [*target.glob("ocistore_example*")]:
        shutil.rmtree(path)
    assert probe(target, cache)["schemes"] == shipped


def test_a_cached_plugin_that_no_longer_imports_is_looked_up_again(tmp_path: Path) -> None:
    """A cache the key cannot see is stale (a plugin edited away in place) costs one rescan."""
    target, cache = tmp_path / "site", tmp_path / "cache"
    target.mkdir()
    shipped = probe(target, cache)["schemes"]
    (file,) = cache_files(cache)
    data = json.loads(file.read_text())
    data["entry_points"].append(["ghost", "no_such_module_anywhere", "ghost-dist", "0"])
    file.write_text(json.dumps(data))
    result = probe(target, cache)
    assert result["schemes"] == shipped
    assert result["scanned"] is True
    assert "ghost" not in file.read_text(), "the cache was rewritten from the fresh scan"


def test_a_broken_plugin_fails_the_same_from_the_cache(tmp_path: Path) -> None:
    target, cache = tmp_path / "site", tmp_path / "cache"
    pip_install("broken", target, tmp_path)
    runs = [run(PROBE, target, OCISTORE_CACHE_DIR=str(cache)) for _ in range(2)]
    assert len(cache_files(cache)) == 1
    for proc in runs:
        assert proc.returncode != 0
        assert "PluginLoadError" in proc.stderr
        assert "ocistore-broken-plugin" in proc.stderr
    assert runs[0].stderr.splitlines()[-1] == runs[1].stderr.splitlines()[-1]


@pytest.mark.parametrize("how", ["switched off", "unwritable"])
def test_without_a_usable_cache_every_start_scans(how: str, tmp_path: Path) -> None:
    target = tmp_path / "site"
    target.mkdir()
    if how == "switched off":
        cache, env = tmp_path / "cache", {"OCISTORE_PLUGIN_CACHE": "0"}
    else:
        (tmp_path / "file").write_text("not a directory")
        cache, env = tmp_path / "file" / "cache", {}
    for _ in range(2):
        result = probe(target, cache, **env)
        assert {"ocidir", "reg"} <= set(result["schemes"])  # type: ignore[arg-type]
        assert result["scanned"] is True
    assert not cache.exists()


def test_the_cache_answers_what_importlib_metadata_answers(tmp_path: Path) -> None:
    target, cache = tmp_path / "site", tmp_path / "cache"
    pip_install("example", target, tmp_path)
    code = (
        "import json; from ocistore.entrypoints import discover; "
        "rows = [[e.name, e.value, e.distribution, e.version] for e in discover()[0]]; "
        "print(json.dumps([rows, discover()[1]]))"
    )
    direct = (
        "import json, importlib_metadata as m; "
        "print(json.dumps([[e.name, e.value, e.dist.name, e.dist.version] "
        "for e in m.entry_points(group='ocistore.plugins')]))"
    )
    proc = run(code, target, OCISTORE_CACHE_DIR=str(cache))
    assert proc.returncode == 0, proc.stderr
    rows, cached = json.loads(proc.stdout)
    assert cached is True, "the second discover() of one process reads the file the first wrote"
    expected = json.loads(run(direct, target).stdout)
    assert rows == expected
    assert ["example", "ocistore_example", "ocistore-example-plugin", "1.2.3"] in rows


def test_the_cache_directory_keeps_the_newest_environments_only(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for i in range(40):
        old = cache / f"entry-points-{i:024x}.json"
        old.write_text("{}")
        os.utime(old, ns=(i * 10**9, i * 10**9))
    target = tmp_path / "site"
    target.mkdir()
    probe(target, cache)
    kept = cache_files(cache)
    assert len(kept) == 32
    assert cache / f"entry-points-{0:024x}.json" not in kept, "the oldest went"
    assert cache / f"entry-points-{39:024x}.json" in kept
