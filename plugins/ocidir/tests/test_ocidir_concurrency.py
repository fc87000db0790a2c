"""Processes writing into one layout at the same time lose nothing.

* 2 and 4 processes push 250 distinct tags each (one index.json update per push, or batched in
  sessions), all released at once: every tag is there afterwards, with its digest.
* A garbage collector (which also deletes tags) runs in a loop in one process while another
  copies images whose base layer the collector's own, deleted images share: no blob that a
  finished copy references is ever removed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from ocidir_testlib import WORKER, sharing_image, verify_layout

from ocistore.testing.content import oci_image, push
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir

COUNT = 250


def worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize(
    "batches",
    [(0, 0), (0, 10), (0, 0, 0, 0), (0, 7, 0, COUNT)],
    ids=["2-plain", "2-plain+session", "4-plain", "4-plain+session+one-flush"],
)
def test_concurrent_writers_keep_every_tag(tmp_path: Path, batches: tuple[int, ...]) -> None:
    path = tmp_path / "shared"
    names = "abcd"[: len(batches)]
    procs = [
        worker("tags", str(path), name, str(COUNT), str(batch))
        for name, batch in zip(names, batches, strict=True)
    ]
    time.sleep(0.5)  # let every interpreter start, so that the writes really overlap
    t0 = time.monotonic()
    Path(f"{path}.go").touch()
    for proc in procs:
        assert proc.wait(120) == 0
    elapsed = time.monotonic() - t0
    expected = sorted(f"{n}-{i}" for n in names for i in range(COUNT))
    assert verify_layout(path) == expected
    scheme = OCIDir()
    ref = parse(f"ocidir://{path}")
    assert scheme.tag_list(ref) == expected
    for name in expected:
        assert scheme.manifest_head(ref.with_tag(name)).digest == oci_image(name, layers=1).digest
    print(
        f"\n{len(procs)} processes x {COUNT} tags (batches {batches}): "
        f"{len(expected)} of {len(expected)} tags kept, in {elapsed:.1f} s"
    )


def test_gc_and_tag_deletes_never_take_a_blob_of_a_finished_copy(tmp_path: Path) -> None:
    copies = 40
    src = tmp_path / "source"
    scheme = OCIDir()
    images = [sharing_image(f"img-{i}") for i in range(copies)]
    for i, image in enumerate(images):
        push(scheme, parse(f"ocidir://{src}:img-{i}"), image)
    path = tmp_path / "shared"
    collector = worker("gc-loop", str(path))
    copier = worker("copy-many", str(path), f"ocidir://{src}", str(copies))
    time.sleep(0.5)
    Path(f"{path}.go").touch()
    assert copier.wait(120) == 0
    Path(f"{path}.stop").touch()
    assert collector.wait(60) == 0
    assert collector.stdout is not None
    rounds, runs, removed = map(int, collector.stdout.read().split())
    # the collector really ran between the copies, and really removed its own garbage
    assert runs > 0
    assert removed > 0
    reader = OCIDir()
    ref = parse(f"ocidir://{path}")
    tags = verify_layout(path)  # every referenced blob exists and hashes to its name
    assert [t for t in tags if t.startswith("copy-")] == sorted(f"copy-{i}" for i in range(copies))
    for i, image in enumerate(images):
        manifest = reader.manifest_get(ref.with_tag(f"copy-{i}"))
        assert manifest.digest == image.digest
        for child in manifest.children():
            with reader.blob_get(ref, child.digest, size=child.size) as r:
                r.verify_to_end()
    print(
        f"\n{copies} copies while a collector ran {rounds} rounds of tag deletes "
        f"({runs} collections, {removed} blobs removed): all {copies} copies intact"
    )


def test_threads_of_separate_instances_keep_every_tag(tmp_path: Path) -> None:
    import threading

    ref = parse(f"ocidir://{tmp_path}/threads")

    def write(n: int) -> None:
        scheme = OCIDir()
        for i in range(30):
            push(scheme, ref.with_tag(f"w{n}-{i}"), oci_image(f"w{n}-{i}", layers=1))
        scheme.close(ref)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(OCIDir().tag_list(ref)) == 120
    verify_layout(Path(ref.path))
