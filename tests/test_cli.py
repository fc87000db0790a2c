"""The ``ocistore`` command line as users run it: the installed entry point, in a subprocess.

This module also holds the helpers the other ``test_cli_*`` modules share (``run``, ``seed``).
Here: help, version, usage errors (exit 2), operation errors (exit 1, one line, no traceback),
global options before and after the verb, and JSON output. Fast start-up is tested in
``core/tests/test_startup.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ocistore.testing import content

OCISTORE = Path(sys.executable).with_name("ocistore")


@dataclass
class Result:
    code: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode()

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli_env(home: Path | None = None) -> dict[str, str]:
    """A clean environment: no user docker config, no plugin switches from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCISTORE_")}
    if home is not None:
        env["DOCKER_CONFIG"] = str(home / ".docker")
    env.pop("COLUMNS", None)
    return env


def run(
    *args: str | Path,
    input: bytes | None = None,
    cwd: Path | None = None,
    expect: int | None = 0,
    exe: list[str] | None = None,
) -> Result:
    """Run the installed ``ocistore``; ``expect`` checks the exit code (None: any)."""
    cmd = [*(exe or [str(OCISTORE)]), *map(str, args)]
    proc = subprocess.run(
        cmd,
        input=input if input is not None else b"",
        capture_output=True,
        cwd=cwd,
        env=cli_env(cwd),
        timeout=120,
        check=False,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr.decode())
    if expect is not None:
        assert result.code == expect, (
            f"{' '.join(cmd)} exited {result.code}, expected {expect}\n"
            f"stdout: {result.stdout[:2000]!r}\nstderr: {result.stderr}"
        )
    return result


def seed(layout: Path, tag: str, image: content.Image) -> str:
    """Put ``image`` into the OCI layout at ``layout`` (through the Python API) at ``tag``.

    Everything goes through the client, so that closing it releases the layout: a scheme left
    holding its GC lock in the test process would silently stop every CLI run from collecting.
    """
    from ocistore import Client

    ref = f"ocidir://{layout}:{tag}"
    with Client() as client:
        _push(client, client.parse(ref), image, child=False)
    return ref


def _push(client: Any, ref: Any, image: content.Image, *, child: bool) -> None:
    import io

    for sub in image.children:
        _push(client, ref.with_digest(sub.digest), sub, child=True)
    for digest, data in image.blobs.items():
        client.blob_put(ref, io.BytesIO(data), digest=digest, length=len(data))
    client.manifest_put(ref, image.manifest, child=child)


def assert_one_line_error(result: Result, *needles: str) -> None:
    """The error contract: ``ocistore: error:`` first, an optional hint, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert lines, "no error message"
    assert lines[0].startswith("ocistore: error: "), result.stderr
    assert all(line.startswith("hint: ") for line in lines[1:]), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


# -- tests --------------------------------------------------------------------------------------
def test_entry_point_is_installed_next_to_the_interpreter() -> None:
    assert OCISTORE.exists(), f"{OCISTORE} missing: run scripts/bootstrap"


def test_help_lists_every_command() -> None:
    out = run("--help").out
    for verb in ("image", "manifest", "blob", "tag", "repo", "artifact", "index", "scheme"):
        assert verb in out
    assert "version" in out


@pytest.mark.parametrize(
    "group",
    ["image", "manifest", "blob", "tag", "repo", "artifact", "index", "scheme"],
)
def test_each_group_has_help(group: str) -> None:
    assert "ACTION" in run(group, "--help").out


def test_python_dash_m_runs_the_same_cli() -> None:
    res = run("version", exe=[sys.executable, "-m", "ocistore"])
    assert res.out.startswith("ocistore ")


def test_version_text_and_json() -> None:
    from ocistore import __version__

    assert __version__ in run("version").out
    data = run("version", "--format", "json").json()
    assert data["version"] == __version__
    assert {p["plugin"] for p in data["plugins"]} >= {"reg", "ocidir"}


def test_scheme_list_shows_plugins_and_capabilities() -> None:
    data = run("scheme", "list", "--format", "json").json()
    by_name = {s["scheme"]: s for s in data["schemes"]}
    assert by_name["ocidir"]["distribution"] == "ocistore-ocidir"
    assert by_name["reg"]["distribution"] == "ocistore-reg"
    assert by_name["reg"]["default"] is True
    assert by_name["ocidir"]["capabilities"]["gc"] is True
    text = run("scheme", "list").out
    assert "ocidir" in text
    assert "capabilities" in text


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["image"],
        ["image", "copy", "only-one-arg"],
        ["nosuchverb"],
        ["tag", "ls", "ocidir://x", "--limit", "0"],
        ["--platform", "linux", "image", "digest", "ocidir://x"],
        ["blob", "head", "ocidir://x", "sha256:short"],
        ["--format", "yaml", "version"],
        ["--plain-http", "http://127.0.0.1:5000", "version"],
        ["tag", "ls", "--include", "(", "ocidir://x"],
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], tmp_path: Path) -> None:
    res = run(*args, cwd=tmp_path, expect=2)
    assert_one_line_error(res)


def test_invalid_reference_is_a_usage_error(tmp_path: Path) -> None:
    res = run("tag", "ls", "ocidir://bad*name", cwd=tmp_path, expect=2)
    assert_one_line_error(res, "bad*name")


def test_missing_tag_exits_1_naming_the_tag_without_traceback(tmp_path: Path) -> None:
    seed(tmp_path / "store", "present", content.oci_image(1))
    res = run("manifest", "get", f"ocidir://{tmp_path}/store:absent", expect=1)
    assert_one_line_error(res, "absent")
    res = run(
        "image", "copy", f"ocidir://{tmp_path}/store:absent", f"ocidir://{tmp_path}/o:x", expect=1
    )
    assert_one_line_error(res, "absent")


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    seed(tmp_path / "store", "present", content.oci_image(1))
    res = run("-v", "manifest", "get", f"ocidir://{tmp_path}/store:absent", expect=1)
    assert "Traceback" in res.stderr
    assert "ocistore: error:" in res.stderr


def test_unknown_scheme_fails_with_the_installed_list(tmp_path: Path) -> None:
    res = run("tag", "ls", "nosuch://x", cwd=tmp_path, expect=1)
    assert_one_line_error(res, "nosuch")
    assert "ocidir" in res.stderr


def test_global_options_work_before_and_after_the_verb(tmp_path: Path) -> None:
    ref = seed(tmp_path / "store", "v1", content.oci_image(2))
    before = run("--format", "json", "image", "digest", ref).json()
    after = run("image", "digest", ref, "--format", "json").json()
    middle = run("image", "--format", "json", "digest", ref).json()
    assert before == after == middle
    assert before["digest"] == str(content.oci_image(2).digest)


def test_password_stdin_needs_user(tmp_path: Path) -> None:
    res = run("--password-stdin", "tag", "ls", "ocidir://x", cwd=tmp_path, expect=2)
    assert_one_line_error(res, "--user")


def test_user_without_password_source_is_a_usage_error(tmp_path: Path) -> None:
    res = run("--user", "me", "tag", "ls", "127.0.0.1:1/x", cwd=tmp_path, expect=2)
    assert_one_line_error(res, "password")


def test_insecure_and_plain_http_for_one_host_conflict(tmp_path: Path) -> None:
    res = run(
        "--insecure",
        "127.0.0.1:1",
        "--plain-http",
        "127.0.0.1:1",
        "tag",
        "ls",
        "127.0.0.1:1/x",
        cwd=tmp_path,
        expect=2,
    )
    assert_one_line_error(res, "127.0.0.1:1")


def test_connection_refused_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run("tag", "ls", f"127.0.0.1:{port}/x", cwd=tmp_path, expect=1)
    assert_one_line_error(res)


# Fast start-up (which modules --help, version and ocidir verbs import) is tested in
# core/tests/test_startup.py; the timings are in benchmarks/startup.py.
