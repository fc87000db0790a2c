"""One ``OCIDir`` instance hammered from many threads, as the copy engine uses it.

Each worker thread owns its tags (``w<n>-<k>``) and images, so what it expects at the end is
known exactly whatever the interleaving: it pushes, moves and deletes its tags, deletes its
manifests, pushes children and referrers, and reads everything back. It sees its own writes at
once; an outside instance sees them when the write returns if no session is open anywhere on the
instance, else when the worker leaves its outermost session. Around it: an enclosing ``batch()``,
sessions the workers open themselves (nested, some holding the lock), a second instance and a
second process writing their own tags, and ``close`` (garbage collection) called while the
others write. At the end every expected tag must be there with the right digest, nothing else may
be, and the layout must read cleanly, before and after a last garbage collection.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ocidir_testlib import WORKER, names, verify_layout

from ocistore.digest import Digest
from ocistore.errors import ManifestNotFoundError, TagNotFoundError
from ocistore.ref import Ref
from ocistore.testing.content import artifact, oci_image, push
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir

THREADS = 12
ROUNDS = 24
TAGS = 4  # tags per worker
FALLBACK = re.compile(r"^sha256-[0-9a-f]{64}$")  # referrers fallback tags


class Worker:
    """One thread's random walk over its own tags, checking as it goes."""

    def __init__(
        self,
        scheme: OCIDir,
        observer: OCIDir,
        ref: Ref,
        n: int,
        *,
        sessions: bool,
        gc_locked: bool,
        in_batch: bool,
    ) -> None:
        self.scheme, self.observer, self.ref, self.n = scheme, observer, ref, n
        self.rng = random.Random(n)
        self.sessions, self.gc_locked, self.in_batch = sessions, gc_locked, in_batch
        self.images = [oci_image(f"w{n}-{k}", layers=1) for k in range(3)]
        self.pushed: set[Digest] = set()  # images whose blobs are in the layout
        self.expected: dict[str, Digest | None] = {}
        self.referrers: dict[Digest, set[Digest]] = {}
        self.depth = 0
        self.counter = 0

    # -- helpers ----------------------------------------------------------------------------------
    def tag(self) -> str:
        return f"w{self.n}-{self.rng.randrange(TAGS)}"

    def present(self) -> list[str]:
        return sorted(t for t, d in self.expected.items() if d is not None)

    def check_own(self, scheme: OCIDir) -> None:
        """Every tag of this worker reads as expected through ``scheme``."""
        listed = set(scheme.tag_list(self.ref))
        for tag, digest in self.expected.items():
            if digest is None:
                assert tag not in listed, f"{tag} deleted but listed"
                with pytest.raises(TagNotFoundError):
                    scheme.manifest_head(self.ref.with_tag(tag))
            else:
                assert tag in listed, f"{tag} missing from the tag list"
                assert scheme.manifest_head(self.ref.with_tag(tag)).digest == digest, tag

    # -- actions ----------------------------------------------------------------------------------
    def put(self) -> None:
        tag, image = self.tag(), self.rng.choice(self.images)
        # Just the tag when the blobs are known to be there (GC may have taken them otherwise).
        if image.digest in self.pushed and not self.gc_locked and self.rng.randrange(2):
            self.scheme.manifest_put(self.ref.with_tag(tag), image.manifest)
        else:
            push(self.scheme, self.ref.with_tag(tag), image)
            self.pushed.add(image.digest)
        self.expected[tag] = image.digest
        assert self.scheme.manifest_head(self.ref.with_tag(tag)).digest == image.digest

    def untag(self) -> None:
        if not self.present():
            return self.put()
        tag = self.rng.choice(self.present())
        self.scheme.tag_delete(self.ref.with_tag(tag))
        self.expected[tag] = None
        with pytest.raises(TagNotFoundError):
            self.scheme.manifest_head(self.ref.with_tag(tag))
        return None

    def delete(self) -> None:
        """Delete one of this worker's manifests: every tag of it goes too."""
        image = self.rng.choice(self.images)
        if image.digest not in self.pushed:
            return self.put()
        with contextlib.suppress(ManifestNotFoundError):  # already deleted, nothing tags it
            self.scheme.manifest_delete(self.ref.with_digest(image.digest))
        self.pushed.discard(image.digest)
        for tag, digest in self.expected.items():
            if digest == image.digest:
                self.expected[tag] = None
        with pytest.raises(ManifestNotFoundError):
            self.scheme.manifest_get(self.ref.with_digest(image.digest))
        return None

    def child(self) -> None:
        self.counter += 1
        image = oci_image(f"w{self.n}-child-{self.counter}", layers=1)
        push(self.scheme, self.ref.with_digest(image.digest), image, child=True)
        got = self.scheme.manifest_get(self.ref.with_digest(image.digest))
        assert got.raw == image.manifest.raw

    def referrer(self) -> None:
        subject = self.rng.choice(self.images)
        self.counter += 1
        art = artifact(subject.manifest.descriptor(), payload=b"w%d-%d" % (self.n, self.counter))
        push(self.scheme, self.ref.with_digest(art.digest), art, child=True)
        self.referrers.setdefault(subject.digest, set()).add(art.digest)
        found = {d.digest for d in self.scheme.referrers(self.ref, subject.digest)}
        assert self.referrers[subject.digest] <= found

    def read(self) -> None:
        self.check_own(self.scheme)

    def session(self) -> None:
        hold = self.rng.randrange(4) == 0
        with self.scheme.session(self.ref, hold_lock=hold) as session:
            self.depth += 1
            try:
                for _ in range(self.rng.randrange(2, 5)):
                    self.step(allow_session=self.depth < 2)
                    if self.rng.randrange(6) == 0:
                        session.flush()
            finally:
                self.depth -= 1
        if self.depth == 0:
            self.check_own(self.observer)  # left its outermost session: durable, visible

    def step(self, *, allow_session: bool = True) -> None:
        actions: list[Callable[[], None]] = [self.put] * 4 + [self.untag, self.delete]
        actions += [self.child, self.referrer, self.read]
        if self.sessions and allow_session:
            actions.append(self.session)
        action = self.rng.choice(actions)
        guard = self.scheme.gc_lock(self.ref) if self.gc_locked else contextlib.nullcontext()
        with guard:
            action()
        if not (self.sessions or self.in_batch):
            # No session anywhere on the instance: every write is on disk when it returns.
            # (While any thread has one open, every thread's writes join it.)
            self.check_own(self.observer)

    def run(self, start: threading.Barrier) -> None:
        start.wait()
        for _ in range(ROUNDS):
            self.step()


def run_threads(targets: list[Callable[[], None]]) -> None:
    """Run ``targets`` in threads; re-raise the first failure of any of them."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a worker hung"
    if errors:
        raise errors[0]


def check_layout(ref: Ref, expected: dict[str, Digest], workers: list[Worker]) -> None:
    """What an outsider sees: exactly the expected tags, right digests, a sound layout."""
    doc = json.loads((Path(ref.path) / "index.json").read_bytes())
    assert doc["schemaVersion"] == 2
    tagged = [n for n in names(ref) if n is not None]
    assert len(tagged) == len(set(tagged)), "a tag appears twice in index.json"
    verify_layout(Path(ref.path))
    reader = OCIDir()
    listed = {t for t in reader.tag_list(ref) if not FALLBACK.match(t)}
    assert listed == set(expected), (
        f"missing {sorted(set(expected) - listed)}, unexpected {sorted(listed - set(expected))}"
    )
    for tag, digest in expected.items():
        assert reader.manifest_head(ref.with_tag(tag)).digest == digest, tag
    for worker in workers:
        for subject, arts in worker.referrers.items():
            found = {d.digest for d in reader.referrers(ref, subject)}
            assert arts <= found, f"referrers of {subject} lost"


def expected_of(workers: list[Worker]) -> dict[str, Digest]:
    return {t: d for w in workers for t, d in w.expected.items() if d is not None}


def other_writer(ref: Ref, name: str, count: int, expected: dict[str, Digest]) -> None:
    """A second instance in this process: plain pushes, then its own close."""
    other = OCIDir()
    for i in range(count):
        image = oci_image(f"{name}-{i}", layers=1)
        push(other, ref.with_tag(f"{name}-{i}"), image)
        expected[f"{name}-{i}"] = image.digest
    other.close(ref)


@contextlib.contextmanager
def second_process(ref: Ref, name: str, count: int, batch: int) -> Iterator[dict[str, Digest]]:
    """The test worker script pushing ``name-<i>`` tags, started when the block starts."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "tags", ref.path, name, str(count), str(batch)]
    )
    Path(f"{ref.path}.go").touch()
    try:
        yield {f"{name}-{i}": oci_image(f"{name}-{i}", layers=1).digest for i in range(count)}
    finally:
        assert proc.wait(120) == 0


MODES = {
    "plain": {"sessions": False, "batch": False, "crowd": False, "gc": False},
    "batch": {"sessions": False, "batch": True, "crowd": False, "gc": False},
    "sessions": {"sessions": True, "batch": False, "crowd": False, "gc": False},
    "batch+sessions": {"sessions": True, "batch": True, "crowd": False, "gc": False},
    "crowd": {"sessions": True, "batch": False, "crowd": True, "gc": True},
    "crowd+batch": {"sessions": True, "batch": True, "crowd": True, "gc": True},
}


@pytest.mark.parametrize("mode", list(MODES))
def test_one_instance_many_threads_loses_no_tag(tmp_path: Path, mode: str) -> None:
    opts = MODES[mode]
    ref = parse(f"ocidir://{tmp_path}/shared")
    scheme, observer = OCIDir(), OCIDir()
    push(scheme, ref.with_tag("base"), oci_image("base"))
    workers = [
        Worker(
            scheme,
            observer,
            ref,
            n,
            sessions=opts["sessions"],
            gc_locked=opts["gc"],
            in_batch=opts["batch"],
        )
        for n in range(THREADS)
    ]
    start = threading.Barrier(THREADS + (3 if opts["crowd"] else 0))
    others: dict[str, Digest] = {"base": oci_image("base").digest}
    targets: list[Callable[[], None]] = [lambda w=w: w.run(start) for w in workers]  # type: ignore[misc]
    stop = threading.Event()
    if opts["crowd"]:

        def second(name: str) -> None:
            start.wait()
            other_writer(ref, name, 10, others)

        def closer() -> None:
            start.wait()
            while not stop.is_set():
                scheme.close(ref)  # GC whenever no worker holds the layout
                stop.wait(0.01)

        targets += [lambda: second("o0"), lambda: second("o1"), closer]
    with contextlib.ExitStack() as stack:
        if opts["batch"]:
            stack.enter_context(scheme.batch(ref))
        if opts["crowd"]:
            others |= stack.enter_context(second_process(ref, "p", 20, 4))

        def all_then_stop() -> None:
            try:
                run_threads(targets[:THREADS])
            finally:
                stop.set()

        run_threads([all_then_stop, *targets[THREADS:]])
    expected = expected_of(workers) | others
    check_layout(ref, expected, workers)
    scheme.close(ref)  # garbage collection keeps everything that is referenced
    check_layout(ref, expected, workers)


def test_session_flush_replays_over_another_process(tmp_path: Path) -> None:
    """A long session flushed now and then while another process keeps writing: a flush that
    finds index.json changed replays its operations over the other's version."""
    ref = parse(f"ocidir://{tmp_path}/replay")
    scheme = OCIDir()
    push(scheme, ref.with_tag("base"), oci_image("base"))
    expected = {"base": oci_image("base").digest}
    workers = [
        Worker(scheme, OCIDir(), ref, n, sessions=False, gc_locked=False, in_batch=True)
        for n in range(4)
    ]
    with scheme.session(ref) as session:
        push(scheme, ref.with_tag("early"), oci_image("early"))  # the base version is read now
        expected["early"] = oci_image("early").digest
        with second_process(ref, "p", 30, 0) as theirs:
            start = threading.Barrier(len(workers))
            done = threading.Event()

            def flusher() -> None:
                while not done.is_set():
                    session.flush()
                    done.wait(0.005)

            def work() -> None:
                try:
                    run_threads([lambda w=w: w.run(start) for w in workers])  # type: ignore[misc]
                finally:
                    done.set()

            run_threads([work, flusher])
        expected |= theirs
        # Pending, then another process writes: the final flush must replay, or lose theirs.
        push(scheme, ref.with_tag("late"), oci_image("late"))
        expected["late"] = oci_image("late").digest
        with second_process(ref, "q", 3, 0) as more:
            pass
        expected |= more
    assert session.flushes >= 2
    check_layout(ref, expected | expected_of(workers), workers)


def test_close_collects_between_writes_of_other_threads(tmp_path: Path) -> None:
    """``close`` from one thread while others push (each push under ``gc_lock``, as the copy
    engine does): collections happen in between, and never take a blob something needs."""
    ref = parse(f"ocidir://{tmp_path}/gc")
    scheme = OCIDir()
    expected: dict[str, Digest] = {}
    collected: list[int] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        for i in range(12):
            image = oci_image(f"gc{n}-{i}", layers=1)
            with scheme.gc_lock(ref):
                push(scheme, ref.with_tag(f"g{n}-{i % 5}"), image)
                expected[f"g{n}-{i % 5}"] = image.digest
            junk = b"junk %d %d" % (n, i)
            scheme.blob_put(ref, None, io.BytesIO(junk), len(junk))  # garbage at once
            stop.wait(0.01)

    def closer() -> None:
        while not stop.is_set():
            scheme.close(ref)
            if scheme.last_gc is not None and not scheme.last_gc.skipped:
                collected.append(len(scheme.last_gc.removed))
            stop.wait(0.001)

    def writers() -> None:
        try:
            run_threads([lambda n=n: writer(n) for n in range(4)])  # type: ignore[misc]
        finally:
            stop.set()

    push(scheme, ref.with_tag("base"), oci_image("base"))
    expected["base"] = oci_image("base").digest
    run_threads([writers, closer])
    assert collected, "no collection ran while the writers were busy"
    check_layout(ref, expected, [])
    scheme.close(ref)
    check_layout(ref, expected, [])
