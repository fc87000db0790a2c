"""Progress bars: drawn on a terminal, absent when stderr is piped or with ``--no-progress``."""

from __future__ import annotations

import os
import pty
import subprocess
import threading
from pathlib import Path

from ocistore.testing import content
from tests.test_cli import OCISTORE, cli_env, run, seed


def _big_image() -> content.Image:
    """An image with a few MiB of layer, so there is something to draw."""
    import json

    from ocistore import mediatype as mt
    from ocistore.descriptor import Descriptor
    from ocistore.digest import Digest
    from ocistore.manifest import Manifest

    layer = content.random_bytes(3 * 1024 * 1024, "big")
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [str(Digest.from_bytes(layer))]},
        }
    ).encode()
    ld = Descriptor(mt.OCI_LAYER, Digest.from_bytes(layer), len(layer))
    cd = Descriptor(mt.OCI_CONFIG, Digest.from_bytes(config), len(config))
    manifest = Manifest.from_data(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": cd.to_dict(),
            "layers": [ld.to_dict()],
        }
    )
    return content.Image(manifest, {ld.digest: layer, cd.digest: config})


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, bytes, str]:
    """Run with stderr on a pseudo-terminal (stdout piped); returns code, stdout, terminal text."""
    master, slave = pty.openpty()
    env = cli_env(cwd)
    env["TERM"] = "xterm-256color"
    env["COLUMNS"] = "120"
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(
            [str(OCISTORE), *args],
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, proc.stdout, b"".join(chunks).decode(errors="replace")


def test_copy_draws_progress_on_a_terminal(tmp_path: Path) -> None:
    image = _big_image()
    src = seed(tmp_path / "src", "v1", image)
    code, out, terminal = _run_on_a_terminal(
        ["image", "copy", src, f"ocidir://{tmp_path}/dst:v1"], tmp_path
    )
    assert code == 0, terminal
    assert "total" in terminal
    assert "MB" in terminal or "kB" in terminal  # rich's DownloadColumn
    assert str(image.digest) in out.decode()  # data still goes to stdout


def test_no_progress_flag_silences_the_terminal(tmp_path: Path) -> None:
    src = seed(tmp_path / "src", "v1", _big_image())
    code, _, terminal = _run_on_a_terminal(
        ["image", "copy", "--no-progress", src, f"ocidir://{tmp_path}/dst:v1"], tmp_path
    )
    assert code == 0
    assert "total" not in terminal


def test_piped_copy_is_silent(tmp_path: Path) -> None:
    src = seed(tmp_path / "src", "v1", _big_image())
    res = run("image", "copy", src, f"ocidir://{tmp_path}/dst:v1")
    assert res.stderr == ""


def test_bars_account_for_retries_and_late_skips() -> None:
    """A retried blob starts its bar again; one found at the target after a retry is dropped,
    and the total still ends at the sum of the sizes."""
    import io

    from ocistore.cli.progress import _Bars
    from ocistore.copy import ProgressEvent
    from ocistore.digest import Digest
    from ocistore.ref import parse_path_reference

    ref = parse_path_reference("ocidir", "ocidir://x:t")
    a, b = Digest.from_bytes(b"a"), Digest.from_bytes(b"b")
    bars = _Bars(io.StringIO())

    def ev(kind: str, digest: Digest, done: int = 0) -> None:
        bars(ProgressEvent(kind, digest, 100, done, ref))  # type: ignore[arg-type]

    ev("blob-start", a)
    ev("blob-progress", a, 60)
    ev("blob-retry", a)
    assert bars.progress.tasks[0].completed == 0  # the total gave back the 60 bytes
    ev("blob-progress", a, 100)
    ev("blob-done", a, 100)
    ev("blob-start", b)
    ev("blob-progress", b, 30)
    ev("blob-skip", b)
    total = bars.progress.tasks[0]
    assert (total.completed, total.total) == (200, 200)
    assert len(bars.progress.tasks) == 1  # only the total bar is left
