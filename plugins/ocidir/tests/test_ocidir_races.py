"""Races between the threads of one instance, and between it and other writers, made
deterministic: each test forces the interleaving that used to lose or hide a write."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ocistore.errors import ManifestNotFoundError, TagNotFoundError
from ocistore.ref import Ref
from ocistore.testing.content import oci_image, push
from ocistore_ocidir import index as index_module
from ocistore_ocidir.blobs import BlobStore
from ocistore_ocidir.scheme import OCIDir


class _CoarseOs:
    """``os`` as seen on a file system that recycles inode numbers at once (ext4 does: of three
    versions of index.json written in a row, the third had the first one's inode number in 499
    of 500 tries here) and stamps times with a coarse clock (jiffies before Linux 6.13, whole seconds on others):
    every index.json version written within one tick looks alike to ``fstat`` but for its
    size. The tick is a second long and starts at the first ``fstat``."""

    def __init__(self) -> None:
        self.tick = 0

    def fstat(self, fd: int) -> Any:
        st = os.fstat(fd)
        now = time.time_ns()
        if now - self.tick >= 1_000_000_000:
            self.tick = now
        return SimpleNamespace(
            st_ino=42, st_size=st.st_size, st_mtime_ns=self.tick, st_ctime_ns=self.tick
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def test_cached_index_is_not_fooled_by_a_recycled_inode(
    monkeypatch: pytest.MonkeyPatch, layout: Ref
) -> None:
    writer, reader = OCIDir(), OCIDir()
    one, two = oci_image("one"), oci_image("two")
    push(writer, layout.with_tag("t"), one)
    push(writer, layout.with_digest(two.digest), two, child=True)
    index = Path(layout.path) / "index.json"
    monkeypatch.setattr(index_module, "os", _CoarseOs())
    assert reader.manifest_head(layout.with_tag("t")).digest == one.digest  # cached now
    size = index.stat().st_size
    writer.manifest_put(layout.with_tag("t"), two.manifest)  # the tag moves: same size
    assert index.stat().st_size == size
    assert reader.manifest_head(layout.with_tag("t")).digest == two.digest
    assert reader.tag_list(layout) == ["t"]


def test_a_put_racing_a_flush_keeps_its_blob(monkeypatch: pytest.MonkeyPatch, layout: Ref) -> None:
    """A session deleted a manifest; a thread stores it again as a child (the blob is still
    there, so nothing is written) while another thread flushes the session, which unlinks the
    blob. The put returned, so the blob must survive."""
    scheme = OCIDir()
    image = oci_image("again")
    push(scheme, layout.with_tag("a"), image)
    real_put_bytes = BlobStore.put_bytes
    with scheme.session(layout) as session:
        scheme.manifest_delete(layout.with_digest(image.digest))

        def put_bytes_then_flush(self: BlobStore, data: bytes, digest: Any) -> None:
            real_put_bytes(self, data, digest)
            session.flush()  # another thread's flush, right here

        monkeypatch.setattr(BlobStore, "put_bytes", put_bytes_then_flush)
        scheme.manifest_put(layout.with_digest(image.digest), image.manifest, child=True)
        monkeypatch.undo()
        assert scheme.manifest_get(layout.with_digest(image.digest)).raw == image.manifest.raw
    assert scheme.manifest_get(layout.with_digest(image.digest)).raw == image.manifest.raw


def test_a_blob_put_racing_a_delete_uploads_instead_of_failing(
    monkeypatch: pytest.MonkeyPatch, layout: Ref
) -> None:
    """The blob is there when the put looks, gone when it asks for the size: upload it."""
    scheme = OCIDir()
    digest, _ = scheme.blob_put(layout, None, io.BytesIO(b"racy"), None)
    path = Path(layout.path) / "blobs/sha256" / digest.encoded
    real_is_file = Path.is_file

    def is_file_then_gone(self: Path) -> bool:
        found = real_is_file(self)
        if self == path and found:
            path.unlink()  # another thread's blob_delete, right here
        return found

    monkeypatch.setattr(Path, "is_file", is_file_then_gone)
    assert scheme.blob_put(layout, digest, io.BytesIO(b"racy"), 4) == (digest, 4)
    monkeypatch.undo()
    assert path.read_bytes() == b"racy"


def test_leaving_a_session_writes_it_while_another_thread_has_one(layout: Ref) -> None:
    """Two threads' sessions share the instance's session; the first to leave must not have
    its changes wait (unwritten, invisible to other processes) for the other to leave."""
    scheme, outsider = OCIDir(), OCIDir()
    push(scheme, layout.with_tag("seed"), oci_image("seed"))
    entered, release = threading.Event(), threading.Event()

    def long_session() -> None:
        with scheme.session(layout):
            entered.set()
            release.wait(10)
            push(scheme, layout.with_tag("theirs"), oci_image("theirs"))

    thread = threading.Thread(target=long_session)
    thread.start()
    try:
        assert entered.wait(10)
        with scheme.session(layout):
            push(scheme, layout.with_tag("mine"), oci_image("mine"))
        assert outsider.tag_list(layout) == ["mine", "seed"]
    finally:
        release.set()
        thread.join(10)
    assert outsider.tag_list(layout) == ["mine", "seed", "theirs"]


def test_joining_a_session_with_hold_lock_holds_the_lock(layout: Ref) -> None:
    """``hold_lock`` keeps other writers out for the block even when another thread's
    optimistic session is already open (the block joins it); afterwards they get in."""
    scheme = OCIDir()
    push(scheme, layout.with_tag("seed"), oci_image("seed"))
    entered, release, written = threading.Event(), threading.Event(), threading.Event()

    def optimistic() -> None:
        with scheme.session(layout):
            push(scheme, layout.with_tag("early"), oci_image("early"))
            entered.set()
            release.wait(10)

    def other_writer() -> None:
        push(OCIDir(), layout.with_tag("waiting"), oci_image("waiting"))
        written.set()

    first = threading.Thread(target=optimistic)
    first.start()
    second = threading.Thread(target=other_writer)
    try:
        assert entered.wait(10)
        with scheme.session(layout, hold_lock=True):
            push(scheme, layout.with_tag("holder"), oci_image("holder"))
            second.start()
            assert not written.wait(0.5), "another writer got in while the lock was held"
        assert written.wait(10), "the lock was kept after the hold_lock block"
    finally:
        release.set()
        first.join(10)
        if second.is_alive() or second.ident is not None:
            second.join(10)
    assert OCIDir().tag_list(layout) == ["early", "holder", "seed", "waiting"]


def test_session_reads_see_other_writers(layout: Ref) -> None:
    """A session's reads include what other processes wrote since it started. A copy that
    checks "is the tag there already?" on a stale view skips the push, the flush replays
    nothing for it, and the tag another writer deleted meanwhile stays lost."""
    scheme, other = OCIDir(), OCIDir()
    image = oci_image("kept")
    push(scheme, layout.with_tag("a"), image)
    with scheme.session(layout):
        assert scheme.manifest_head(layout.with_tag("a")).digest == image.digest
        other.tag_delete(layout.with_tag("a"))
        push(other, layout.with_tag("b"), oci_image("b"))
        # copy-like: push unless the target already has it
        try:
            present = scheme.manifest_head(layout.with_tag("a")).digest == image.digest
        except TagNotFoundError:
            present = False
        if not present:
            scheme.manifest_put(layout.with_tag("a"), image.manifest)
        assert scheme.tag_list(layout) == ["a", "b"]
    assert OCIDir().manifest_head(layout.with_tag("a")).digest == image.digest
    assert OCIDir().tag_list(layout) == ["a", "b"]


def test_session_reads_of_a_deleted_manifest_stay_deleted(layout: Ref) -> None:
    """Refreshing the view from disk must keep this session's own deletions."""
    scheme, other = OCIDir(), OCIDir()
    image = oci_image("gone")
    push(scheme, layout.with_tag("x"), image)
    with scheme.session(layout):
        scheme.manifest_delete(layout.with_digest(image.digest))
        push(other, layout.with_tag("y"), oci_image("y"))
        with pytest.raises(ManifestNotFoundError):
            scheme.manifest_get(layout.with_digest(image.digest))
        with pytest.raises(TagNotFoundError):
            scheme.manifest_head(layout.with_tag("x"))
        assert scheme.tag_list(layout) == ["y"]
    assert OCIDir().tag_list(layout) == ["y"]
