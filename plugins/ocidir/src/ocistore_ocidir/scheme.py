"""The ``ocidir`` scheme: OCI image layout directories (``ocidir://path[:tag][@digest]``).

Each method is a thin composition of the layout modules; this is where references become
layouts, tags get their default (``latest``, which the reference parser deliberately does not
apply), errors name the layout, and ``OSError`` is translated (``translate_oserrors``).

Writes follow one order, which is what makes a crash at any point harmless: blobs first (each
complete, fsynced and renamed into place), then index.json (replaced atomically under the
cross-process lock). A crash leaves at worst unreferenced blobs and temp files, which the next
garbage collection removes.

Beyond the ``Scheme`` protocol, :meth:`OCIDir.session` batches index changes: pushing N tagged
manifests inside one session writes index.json once instead of N times.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    LayoutError,
    MissingDigestError,
    MissingTagError,
    OCIStoreError,
    TagNotFoundError,
    UnsupportedError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore.mediatype import OCTET_STREAM
from ocistore.scheme import SchemeBase, SchemeInfo, page_names
from ocistore_ocidir.gc import GCReport, GCTracker
from ocistore_ocidir.handle import LayoutHandle
from ocistore_ocidir.index import IndexStats
from ocistore_ocidir.ops import (
    AddReferrer,
    IndexOp,
    PutManifest,
    RemoveManifest,
    RemoveReferrer,
    RemoveTag,
)
from ocistore_ocidir.oserrors import translate_oserrors, translating
from ocistore_ocidir.reading import (
    DEFAULT_TAG,
    manifest_missing,
    read_manifest,
    resolve,
    tag_of_ref,
)
from ocistore_ocidir.referrers import SubjectCache, find_referrers
from ocistore_ocidir.session import IndexSession

if TYPE_CHECKING:
    from ocistore.blob import BlobReader, RawStream
    from ocistore.ref import Ref
    from ocistore.settings import Settings

__all__ = ["DEFAULT_TAG", "OCIDir"]


class OCIDir(SchemeBase):
    """OCI image layouts on the local filesystem.

    Settings: ``settings.scheme_options("ocidir")`` may hold ``{"gc": False}`` to turn garbage
    collection on ``close`` off.
    """

    name = "ocidir"

    def __init__(self, settings: Settings | None = None) -> None:
        options = settings.scheme_options("ocidir", known=("gc",)) if settings else {}
        self._gc_enabled = bool(options.get("gc", True))
        self._mutex = threading.Lock()
        self._handles: dict[str, LayoutHandle] = {}
        self._gc = GCTracker()
        self._subjects = SubjectCache()
        #: What the last ``close`` collected (``None`` when it did not collect).
        self.last_gc: GCReport | None = None

    def info(self) -> SchemeInfo:
        """Capabilities. ``blob_mount`` hard-links between layouts (a verified copy where links
        are impossible); referrers come from the fallback tag plus an index.json scan.

        Not push-first, although a layout would accept a parent before its children: a copy's
        tag must move only once everything it names is stored, or a copy that fails (or is
        killed) halfway leaves the tag pointing at an image with missing blobs.
        """
        return SchemeInfo(
            manifest_push_first=False,
            blob_mount=True,
            referrers_api=True,
            tag_delete=True,
            blob_delete=True,
            repo_list=False,
            gc=self._gc_enabled,
            multi_process=True,
        )

    # -- plumbing ---------------------------------------------------------------------------------
    def _handle(self, ref: Ref) -> LayoutHandle:
        if not ref.path:
            raise LayoutError(f"reference {ref} has no layout path")
        key = str(Path(ref.path).absolute())
        with self._mutex:
            handle = self._handles.get(key)
            if handle is None:
                handle = self._handles[key] = LayoutHandle(ref.path)
            return handle

    def _reading(self, ref: Ref) -> LayoutHandle:
        handle = self._handle(ref)
        handle.layout.check()
        return handle

    @contextlib.contextmanager
    def _writing(self, ref: Ref) -> Iterator[LayoutHandle]:
        """A write to ``ref``'s layout: between :meth:`_begin_write` and the GC hold's release."""
        handle = self._begin_write(ref)
        try:
            yield handle
        finally:
            self._gc.release(handle.layout)

    def _begin_write(self, ref: Ref) -> LayoutHandle:
        """Hold off GC, make sure the layout exists, and mark it modified for ``close``.

        The caller releases the GC hold (``self._gc.release``) when its write is over.
        """
        handle = self._handle(ref)
        self._gc.acquire(handle.layout)
        try:
            handle.layout.ensure()
            self._gc.modified(handle.layout)
            handle.ensure_index()
        except BaseException:
            self._gc.release(handle.layout)
            raise
        return handle

    # -- ping and blobs ---------------------------------------------------------------------------
    @translate_oserrors("ping")
    def ping(self, ref: Ref) -> None:
        """A missing layout is fine (the first write creates it); a broken one is not."""
        layout = self._handle(ref).layout
        if not layout.root.exists():
            return
        if not layout.root.is_dir():
            raise LayoutError(f"OCI layout {layout}: not a directory")
        if layout.layout_file.exists():
            layout.check(force=True)

    @translate_oserrors("blob get")
    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        return self._reading(ref).blobs.open(digest, size)

    @translate_oserrors("blob head")
    def blob_head(self, ref: Ref, digest: Digest) -> Descriptor:
        return Descriptor(OCTET_STREAM, digest, self._reading(ref).blobs.size(digest))

    @translate_oserrors("blob put")
    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        with self._writing(ref) as handle:
            return handle.blobs.put(reader, digest, length, claim=handle.stored_again)

    @translate_oserrors("blob mount")
    def blob_mount(self, source: Ref, target: Ref, digest: Digest) -> None:
        """Hard-link the blob from another layout (a verified copy across filesystems)."""
        if source.scheme != target.scheme or not source.path:
            raise UnsupportedError(f"cannot mount from {source} into {target}: not both ocidir")
        src = self._reading(source)
        with self._writing(target) as handle:
            handle.stored_again(digest)
            handle.blobs.link_from(src.blobs, digest)

    @translate_oserrors("blob delete")
    def blob_delete(self, ref: Ref, digest: Digest) -> None:
        handle = self._reading(ref)
        handle.blobs.size(digest)  # BlobNotFoundError before anything is created
        with self._writing(ref) as handle:
            handle.blobs.delete(digest)

    # -- manifests --------------------------------------------------------------------------------
    @translate_oserrors("manifest get")
    def manifest_get(self, ref: Ref) -> Manifest:
        return read_manifest(self._reading(ref), ref)[0]

    @translate_oserrors("manifest head")
    def manifest_head(self, ref: Ref) -> Descriptor:
        handle = self._reading(ref)
        digest, entry = resolve(handle, ref)
        media_type = str(entry.get("mediaType") or "") if entry else ""
        if not media_type:  # a child, or an entry without mediaType: the body says
            manifest, _ = read_manifest(handle, ref)
            return Descriptor(manifest.media_type, digest, manifest.size)
        try:
            size = handle.blobs.size(digest)
        except BlobNotFoundError:
            raise manifest_missing(handle, digest, tag_of_ref(ref)) from None
        return Descriptor(media_type, digest, size)

    @translate_oserrors("manifest put")
    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        """Store the exact bytes; root them in index.json unless ``child``; record referrers."""
        manifest.check_writable()
        digest = manifest.digest
        if ref.digest is not None:
            actual = Digest.from_bytes(manifest.raw, ref.digest.algorithm)
            if actual != ref.digest:
                raise DigestMismatchError(
                    f"manifest put to {ref}: the manifest's content hashes to {actual}"
                )
            digest = ref.digest
        ops: list[IndexOp] = []
        if not child:
            tag = ref.tag or (None if ref.digest is not None else DEFAULT_TAG)
            ops.append(PutManifest(digest, manifest.media_type, manifest.raw, tag))
        subject = manifest.subject
        if subject is not None:
            referrer = manifest.referrer_descriptor().replace(digest=digest).to_dict()
            ops.append(AddReferrer(subject.digest, referrer))
        with self._writing(ref) as handle:
            handle.stored_again(digest)
            handle.blobs.put_bytes(manifest.raw, digest)
            if ops:
                handle.apply(*ops)

    @translate_oserrors("manifest delete")
    def manifest_delete(self, ref: Ref) -> None:
        """Delete by digest: every index.json entry (every tag) of it, its referrers record,
        and the blob. Deleting by tag alone is refused: it would remove every other tag too."""
        if ref.digest is None:
            raise MissingDigestError(
                f"manifest delete needs a digest, and {ref} has none",
                hint="resolve the tag to a digest first, or use tag delete to remove one tag",
            )
        digest = ref.digest
        handle = self._reading(ref)
        if handle.deleted_in_session(digest):
            raise manifest_missing(handle, digest)
        with handle.mutex:
            rooted = handle.view().has_digest(digest)
        subject: Digest | None = None
        try:
            manifest = Manifest.from_bytes(
                handle.blobs.read_bytes(digest, MAX_MANIFEST_SIZE),
                expected_digest=digest,
                validate=False,
            )
            subject = manifest.subject.digest if manifest.subject is not None else None
        except BlobNotFoundError:
            if not rooted:
                raise manifest_missing(handle, digest) from None
        except OCIStoreError:
            pass  # unreadable: still delete it, there is just no referrers record to fix
        ops: list[IndexOp] = [RemoveManifest(digest)]
        if subject is not None:
            ops.append(RemoveReferrer(subject, digest))
        with self._writing(ref) as handle:
            handle.apply(*ops)

    # -- tags -------------------------------------------------------------------------------------
    @translate_oserrors("tag list")
    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        """Sorted tags; ``last`` and ``limit`` page through them like a registry would."""
        handle = self._reading(ref)
        with handle.mutex:
            tags = handle.view().tags()
        return page_names(tags, limit=limit, last=last)

    @translate_oserrors("tag delete")
    def tag_delete(self, ref: Ref) -> None:
        """Remove the tag's index.json entries; the manifest stays until GC finds it unused."""
        if not ref.tag:
            raise MissingTagError(f"tag delete needs a tag, and {ref} has none")
        handle = self._reading(ref)
        with handle.mutex:
            found = handle.view().find_tag(ref.tag) is not None
        if not found:
            raise TagNotFoundError(f"tag {ref.tag!r} not found in OCI layout {handle.layout}")
        with self._writing(ref) as handle:
            handle.apply(RemoveTag(ref.tag))

    # -- referrers --------------------------------------------------------------------------------
    @translate_oserrors("referrers")
    def referrers(
        self, ref: Ref, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        handle = self._reading(ref)
        with handle.mutex:
            index = handle.view()
            return find_referrers(
                index,
                digest,
                handle.blobs,
                handle.fallbacks,
                self._subjects,
                artifact_type=artifact_type,
            )

    # -- lifecycle --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def gc_lock(self, ref: Ref) -> Iterator[None]:
        """No garbage collection of this layout, by this process or another, while held."""
        layout = self._handle(ref).layout
        with translating("gc lock", ref):
            self._gc.acquire(layout)
        try:
            yield
        finally:
            self._gc.release(layout)

    @contextlib.contextmanager
    def batch(self, ref: Ref) -> Iterator[None]:
        """The contract's batch: an index session (index.json written once, at the end)."""
        with self.session(ref):
            yield

    @contextlib.contextmanager
    def session(self, ref: Ref, *, hold_lock: bool = False) -> Iterator[IndexSession]:
        """Batch index.json changes at ``ref``'s layout: written once, when the block ends.

        Calls on this instance for the same layout (from any thread) join the session and see
        its changes; other processes see them after the flush (or ``session.flush()``), and
        the session's reads see theirs. ``hold_lock`` keeps the cross-process lock for the
        whole block instead of only while flushing. The block's changes are flushed even when
        it raises (a batch, not a transaction). Blocks nest: a thread's outermost one flushes
        (see ``ocistore_ocidir.handle``).
        """
        owner = threading.get_ident()
        with translating("session", ref):
            handle = self._begin_write(ref)
            try:
                session = handle.open_session(owner, hold_lock=hold_lock)
            except BaseException:
                self._gc.release(handle.layout)
                raise
        try:
            yield session
        finally:
            try:
                with translating("session flush", ref):
                    handle.close_session(owner, hold_lock=hold_lock)
            finally:
                self._gc.release(handle.layout)

    def index_stats(self, ref: Ref) -> IndexStats:
        """How often this instance parsed and wrote ``ref``'s index.json (tests, benchmarks)."""
        return self._handle(ref).index_file.stats

    @translate_oserrors("close")
    def close(self, ref: Ref) -> None:
        """Collect garbage if this instance modified the layout (see ``ocistore_ocidir.gc``)."""
        self.last_gc = self._gc.finish(self._handle(ref).layout, enabled=self._gc_enabled)
