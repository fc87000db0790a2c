"""Thread safety, and process safety where a scheme claims it.

One scheme object serves a whole client and a copy calls it from several threads at once, so
each test starts its threads together on a barrier: the same blob from every thread, different
blobs and manifests, and first use of a repository (and of a new scheme object) racing. A scheme
that declares ``SchemeInfo.multi_process`` also has two processes write one repository at once,
each with its own scheme object, as two ``ocistore`` commands would.
"""

from __future__ import annotations

import io
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ocistore.digest import Digest
from ocistore.ref import Ref
from ocistore.scheme import Scheme
from ocistore.settings import Settings
from ocistore.testing.conformance.fixtures import (
    NewRepo,
    SchemeFactory,
    SchemeFixtures,
    need,
    put_blob,
)
from ocistore.testing.content import oci_image, push, random_bytes

__all__ = ["ConcurrencyTests"]

THREADS = 8
_T = TypeVar("_T")


def _together(work: Callable[[int], _T], n: int = THREADS) -> list[_T]:
    """Run ``work(0..n-1)`` on ``n`` threads released at the same instant; re-raise a failure."""
    barrier = threading.Barrier(n)

    def start(i: int) -> _T:
        barrier.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(start, range(n)))


def _read(scheme: Scheme, ref: Ref, digest: Digest) -> bytes:
    with scheme.blob_get(ref, digest) as reader:
        return reader.read()


def _write_some(scheme: Scheme, repo: Ref, who: str, *, loose: bool = True) -> None:
    """One tagged image of ``who`` and the image every writer shares; with ``loose``, also
    blobs no manifest refers to (which a scheme that collects garbage may drop on close)."""
    if loose:
        put_blob(scheme, repo, random_bytes(50_000, "shared"))
        put_blob(scheme, repo, random_bytes(30_000, f"own-{who}"))
    push(scheme, repo.with_tag(f"w-{who}"), oci_image(f"own-{who}", layers=1))
    push(scheme, repo.with_tag("shared"), oci_image("shared", layers=1))


def _check_written(scheme: Scheme, repo: Ref, writers: list[str], *, loose: bool = True) -> None:
    if loose:
        shared = random_bytes(50_000, "shared")
        assert _read(scheme, repo, Digest.from_bytes(shared)) == shared
    for who in writers:
        if loose:
            own = random_bytes(30_000, f"own-{who}")
            assert _read(scheme, repo, Digest.from_bytes(own)) == own
        image = oci_image(f"own-{who}", layers=1)
        assert scheme.manifest_get(repo.with_tag(f"w-{who}")).raw == image.manifest.raw
        for digest, data in image.blobs.items():
            assert _read(scheme, repo, digest) == data
    assert (
        scheme.manifest_get(repo.with_tag("shared")).digest == oci_image("shared", layers=1).digest
    )
    assert scheme.tag_list(repo) == sorted(["shared", *(f"w-{w}" for w in writers)])


def _process_writer(
    factory: SchemeFactory, settings: Settings, repo: Ref, who: str, go: str
) -> None:
    """One process: wait for the go file (so both start together), then write."""
    scheme = factory(settings)
    Path(go).with_name(f"ready-{who}").touch()
    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the go signal never came")
        time.sleep(0.005)
    with scheme.gc_lock(repo):  # as a copy does: another process may collect on close
        _write_some(scheme, repo, who, loose=False)
    scheme.close(repo)


class ConcurrencyTests(SchemeFixtures):
    def test_threads_putting_the_same_blob(self, scheme: Scheme, repo: Ref) -> None:
        data = random_bytes(300_000, "same-blob")
        expected = (Digest.from_bytes(data), len(data))
        results = _together(
            lambda i: scheme.blob_put(
                repo, expected[0] if i % 2 else None, io.BytesIO(data), len(data)
            )
        )
        assert results == [expected] * THREADS
        assert _read(scheme, repo, expected[0]) == data
        assert scheme.blob_head(repo, expected[0]).size == len(data)

    def test_threads_putting_different_blobs(self, scheme: Scheme, repo: Ref) -> None:
        blobs = [random_bytes(40_000 + i, f"different-{i}") for i in range(THREADS)]
        digests = _together(lambda i: put_blob(scheme, repo, blobs[i]))
        for digest, data in zip(digests, blobs, strict=True):
            assert _read(scheme, repo, digest) == data

    def test_threads_pushing_the_same_and_different_manifests(
        self, scheme: Scheme, repo: Ref
    ) -> None:
        put_blob(scheme, repo, b"repository exists")
        _together(lambda i: _write_some(scheme, repo, str(i)))
        _check_written(scheme, repo, [str(i) for i in range(THREADS)])

    def test_first_use_of_a_repository_races(self, scheme: Scheme, new_repo: NewRepo) -> None:
        """Nothing exists yet: every thread's first call may be the one that creates the
        repository (a database, a directory, a layout), and no thread's writes may be lost."""
        fresh = new_repo()
        _together(lambda i: _write_some(scheme, fresh, str(i)))
        _check_written(scheme, fresh, [str(i) for i in range(THREADS)])

    def test_first_use_of_new_scheme_objects_races(
        self,
        scheme_factory: SchemeFactory | None,
        settings: Settings,
        new_repo: NewRepo,
    ) -> None:
        """Several scheme objects, built at once, each used first at the same instant (a new
        ``Client`` per thread does this)."""
        factory = need(scheme_factory, "scheme_factory", "first use of new scheme objects")
        fresh = new_repo()
        _together(lambda i: _write_some(factory(settings), fresh, str(i)), n=4)
        _check_written(factory(settings), fresh, [str(i) for i in range(4)])

    def test_two_processes_writing_one_repository(
        self,
        scheme: Scheme,
        scheme_factory: SchemeFactory | None,
        settings: Settings,
        new_repo: NewRepo,
        tmp_path: Path,
    ) -> None:
        """Only for a scheme that declares ``multi_process``; the others promise threads only."""
        if not scheme.info().multi_process:
            return
        factory = need(scheme_factory, "scheme_factory", "two processes at once")
        fresh = new_repo()
        go = tmp_path / "go"
        writers = ["p0", "p1"]
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
            jobs = [
                pool.submit(_process_writer, factory, settings, fresh, w, str(go)) for w in writers
            ]
            deadline = time.monotonic() + 60
            while not all((tmp_path / f"ready-{w}").exists() for w in writers):
                assert time.monotonic() < deadline, "the writer processes did not start"
                for job in jobs:
                    if job.done():
                        job.result()  # raises what the process raised
                time.sleep(0.01)
            go.touch()
            for job in jobs:
                job.result(timeout=120)
        _check_written(scheme, fresh, writers, loose=False)
