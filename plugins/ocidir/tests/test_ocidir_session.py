"""Sessions: batched index.json writes, read-your-writes, and merging with concurrent writers."""

from __future__ import annotations

import contextlib
import io
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ocidir_testlib import LayoutTamper, names

from ocistore.errors import ManifestNotFoundError, TagNotFoundError
from ocistore.ref import Ref
from ocistore.settings import Settings
from ocistore.testing.conformance import SchemeConformance
from ocistore.testing.content import artifact, oci_image, push
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir


def prepared(scheme: OCIDir, layout: Ref) -> int:
    """Create the layout (one tag) and return the index.json writes so far."""
    push(scheme, layout.with_tag("seed"), oci_image("seed"))
    return scheme.index_stats(layout).writes


def test_many_tagged_puts_write_index_json_once(scheme: OCIDir, layout: Ref) -> None:
    before = prepared(scheme, layout)
    image = oci_image("many")
    with scheme.session(layout) as session:
        push(scheme, layout.with_tag("t0"), image)
        for i in range(1, 200):
            scheme.manifest_put(layout.with_tag(f"t{i}"), image.manifest)
        assert session.pending == 200
        assert scheme.index_stats(layout).writes == before
    assert scheme.index_stats(layout).writes == before + 1
    assert len(scheme.tag_list(layout)) == 201


def test_session_reads_its_own_writes_and_others_see_them_after(
    scheme: OCIDir, layout: Ref
) -> None:
    prepared(scheme, layout)
    image = oci_image("ryw")
    other = OCIDir()
    with scheme.session(layout):
        push(scheme, layout.with_tag("new"), image)
        assert scheme.manifest_get(layout.with_tag("new")).digest == image.digest
        assert scheme.manifest_head(layout.with_tag("new")).digest == image.digest
        assert scheme.tag_list(layout) == ["new", "seed"]
        assert other.tag_list(layout) == ["seed"]
    assert other.tag_list(layout) == ["new", "seed"]


def test_deletes_in_a_session(scheme: OCIDir, layout: Ref) -> None:
    prepared(scheme, layout)
    image = oci_image("del")
    push(scheme, layout.with_tag("d"), image)
    blob = Path(layout.path) / "blobs/sha256" / image.digest.encoded
    with scheme.session(layout):
        scheme.manifest_delete(layout.with_digest(image.digest))
        with pytest.raises(ManifestNotFoundError):
            scheme.manifest_get(layout.with_digest(image.digest))
        with pytest.raises(TagNotFoundError):
            scheme.manifest_get(layout.with_tag("d"))
        with pytest.raises(ManifestNotFoundError):
            scheme.manifest_delete(layout.with_digest(image.digest))
        assert blob.exists()  # index.json still names it on disk: not yet
        scheme.tag_delete(layout.with_tag("seed"))
        with pytest.raises(TagNotFoundError):
            scheme.tag_delete(layout.with_tag("seed"))
    assert not blob.exists()
    assert names(layout) == []


def test_deleting_then_putting_again_keeps_the_blob(scheme: OCIDir, layout: Ref) -> None:
    prepared(scheme, layout)
    image = oci_image("again")
    push(scheme, layout.with_tag("a"), image)
    with scheme.session(layout):
        scheme.manifest_delete(layout.with_digest(image.digest))
        push(scheme, layout.with_tag("b"), image)
    assert scheme.manifest_get(layout.with_tag("b")).raw == image.manifest.raw
    assert names(layout) == ["seed", "b"]


def test_concurrent_writer_changes_are_merged_not_overwritten(scheme: OCIDir, layout: Ref) -> None:
    prepared(scheme, layout)
    other = OCIDir()
    mine, theirs = oci_image("mine"), oci_image("theirs")
    with scheme.session(layout):
        push(scheme, layout.with_tag("mine"), mine)
        scheme.tag_delete(layout.with_tag("seed"))  # pending in our session
        push(other, layout.with_tag("theirs"), theirs)  # lands on disk first
        other.tag_delete(layout.with_tag("seed"))  # theirs too: our replay tolerates it
        push(other, layout.with_tag("gone"), oci_image("gone"))
        other.tag_delete(layout.with_tag("gone"))
        # The session reads what they did, as it would without a session.
        assert scheme.tag_list(layout) == ["mine", "theirs"]
        with pytest.raises(TagNotFoundError):
            scheme.tag_delete(layout.with_tag("gone"))
    assert sorted(t for t in names(layout) if t) == ["mine", "theirs"]


def test_replay_restores_a_blob_another_writer_deleted(scheme: OCIDir, layout: Ref) -> None:
    prepared(scheme, layout)
    image = oci_image("restore")
    push(scheme, layout.with_tag("x"), image)
    other = OCIDir()
    with scheme.session(layout):
        scheme.manifest_put(layout.with_tag("y"), image.manifest)  # blob exists: not rewritten
        other.manifest_delete(layout.with_digest(image.digest))  # removes "x" and the blob
    assert scheme.manifest_get(layout.with_tag("y")).raw == image.manifest.raw
    assert "x" not in names(layout)


def test_hold_lock_keeps_other_writers_out_until_the_end(scheme: OCIDir, layout: Ref) -> None:
    prepared(scheme, layout)
    done = threading.Event()

    def write() -> None:
        push(OCIDir(), layout.with_tag("waiting"), oci_image("waiting"))
        done.set()

    with scheme.session(layout, hold_lock=True):
        push(scheme, layout.with_tag("holder"), oci_image("holder"))
        thread = threading.Thread(target=write)
        thread.start()
        assert not done.wait(0.5)
    thread.join(10)
    assert done.is_set()
    assert sorted(t for t in names(layout) if t) == ["holder", "seed", "waiting"]


def test_nested_sessions_flush_once_at_the_outermost(scheme: OCIDir, layout: Ref) -> None:
    before = prepared(scheme, layout)
    with scheme.session(layout) as outer:
        with scheme.session(layout) as inner:
            assert inner is outer
            push(scheme, layout.with_tag("inner"), oci_image("inner"))
        assert scheme.index_stats(layout).writes == before
        push(scheme, layout.with_tag("outer"), oci_image("outer"))
    assert scheme.index_stats(layout).writes == before + 1


def test_explicit_flush_writes_midway(scheme: OCIDir, layout: Ref) -> None:
    before = prepared(scheme, layout)
    with scheme.session(layout) as session:
        push(scheme, layout.with_tag("first"), oci_image("first"))
        session.flush()
        assert "first" in OCIDir().tag_list(layout)
        session.flush()  # nothing pending: no write
        push(scheme, layout.with_tag("second"), oci_image("second"))
    assert scheme.index_stats(layout).writes == before + 2


def test_changes_are_kept_when_the_block_raises(scheme: OCIDir, layout: Ref) -> None:
    prepared(scheme, layout)

    def fail_midway() -> None:
        with scheme.session(layout):
            push(scheme, layout.with_tag("kept"), oci_image("kept"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    assert "kept" in OCIDir().tag_list(layout)


def test_threads_share_the_session(scheme: OCIDir, layout: Ref) -> None:
    before = prepared(scheme, layout)
    image = oci_image("threads")
    push(scheme, layout.with_tag("base"), image)

    def worker(n: int) -> None:
        for i in range(25):
            scheme.manifest_put(layout.with_tag(f"w{n}-{i}"), image.manifest)

    with scheme.session(layout):
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(scheme.tag_list(layout)) == 102
    assert scheme.index_stats(layout).writes == before + 2


def test_many_referrers_of_one_subject_in_a_session(scheme: OCIDir, layout: Ref) -> None:
    before = prepared(scheme, layout)
    subject = oci_image("subject")
    with scheme.session(layout):
        push(scheme, layout.with_tag("s"), subject)
        arts = [artifact(subject.manifest.descriptor(), payload=b"%d" % i) for i in range(50)]
        for art in arts:
            push(scheme, layout.with_digest(art.digest), art, child=True)
        assert len(scheme.referrers(layout, subject.digest)) == 50
    assert scheme.index_stats(layout).writes == before + 1
    found = OCIDir().referrers(layout, subject.digest)
    assert [d.digest for d in found] == [a.digest for a in arts]


def test_session_timing_is_linear_enough(scheme: OCIDir, layout: Ref) -> None:
    """A coarse guard against O(N^2): 2000 tags in a session stay well under the plain cost."""
    prepared(scheme, layout)
    image = oci_image("timing")
    push(scheme, layout.with_tag("x"), image)
    start = time.perf_counter()
    with scheme.session(layout):
        for i in range(2000):
            scheme.manifest_put(layout.with_tag(f"t{i}"), image.manifest)
    assert time.perf_counter() - start < 20
    assert scheme.index_stats(layout).bytes_written < 2_000_000


class TestConformanceInsideSessions(SchemeConformance):
    """The whole kit again, every repository used inside an open session: reads must see the
    session's own writes exactly as they would see flushed ones."""

    @pytest.fixture
    def scheme(self) -> OCIDir:
        return OCIDir(Settings())

    @pytest.fixture
    def scheme_factory(self) -> type[OCIDir]:
        return OCIDir

    @pytest.fixture
    def tamper(self) -> LayoutTamper:
        return LayoutTamper()

    @pytest.fixture
    def missing_repo(self, tmp_path: Path) -> Ref:
        return parse(f"ocidir://{tmp_path}/never-opened")

    @pytest.fixture
    def new_repo(self, scheme: OCIDir, tmp_path: Path) -> Iterator[Callable[[], Ref]]:
        counter = itertools.count()
        with contextlib.ExitStack() as stack:

            def make() -> Ref:
                ref = parse(f"ocidir://{tmp_path}/layout{next(counter)}")
                stack.enter_context(scheme.session(ref))
                return ref

            yield make


def test_callers_own_oserrors_pass_through_a_session_unchanged(scheme: OCIDir, layout: Ref) -> None:
    def body() -> None:
        with scheme.session(layout):
            push(scheme, layout.with_tag("kept"), oci_image("kept"))
            raise FileNotFoundError("the caller's own file")

    with pytest.raises(FileNotFoundError, match="caller's own"):
        body()
    assert "kept" in OCIDir().tag_list(layout)


def test_a_session_does_not_leave_the_layout_held(scheme: OCIDir, layout: Ref) -> None:
    with scheme.session(layout):
        push(scheme, layout.with_tag("x"), oci_image("x"))
    junk, _ = scheme.blob_put(layout, None, io.BytesIO(b"junk"), None)
    scheme.close(layout)
    assert not (Path(layout.path) / "blobs/sha256" / junk.encoded).exists()
