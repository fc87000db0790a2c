"""Two processes writing tags into one layout at the same time lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ocidir_testlib import WORKER, verify_layout

from ocistore.testing.content import oci_image
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir

COUNT = 60


@pytest.mark.parametrize(
    ("batch_a", "batch_b"),
    [(0, 0), (7, 7), (0, 10), (COUNT, 0)],
    ids=["plain+plain", "session+session", "plain+session", "one-flush+plain"],
)
def test_concurrent_writers_keep_every_tag(tmp_path: Path, batch_a: int, batch_b: int) -> None:
    path = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "tags", str(path), name, str(COUNT), str(batch)]
        )
        for name, batch in (("a", batch_a), ("b", batch_b))
    ]
    Path(f"{path}.go").touch()
    for proc in procs:
        assert proc.wait(120) == 0
    expected = sorted(f"{n}-{i}" for n in "ab" for i in range(COUNT))
    assert verify_layout(path) == expected
    scheme = OCIDir()
    ref = parse(f"ocidir://{path}")
    assert scheme.tag_list(ref) == expected
    for name in expected:
        assert scheme.manifest_head(ref.with_tag(name)).digest == oci_image(name, layers=1).digest


def test_threads_of_separate_instances_keep_every_tag(tmp_path: Path) -> None:
    import threading

    ref = parse(f"ocidir://{tmp_path}/threads")
    from ocistore.testing.content import push

    def worker(n: int) -> None:
        scheme = OCIDir()
        for i in range(30):
            push(scheme, ref.with_tag(f"w{n}-{i}"), oci_image(f"w{n}-{i}", layers=1))
        scheme.close(ref)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(OCIDir().tag_list(ref)) == 120
    verify_layout(Path(ref.path))
