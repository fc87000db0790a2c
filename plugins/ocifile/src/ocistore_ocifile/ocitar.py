"""The ``ocifile`` scheme: an OCI image layout in one tar (``ocifile://path.tar[:tag][@digest]``).

The tar holds what an OCI layout directory holds (``oci-layout``, ``index.json``,
``blobs/<alg>/<hex>``), in the form ``skopeo copy oci-archive:`` and ``umoci`` (after ``tar x``)
read. The ``index.json`` model and its tag rules are ocidir's (``ocistore_ocidir.index``), so a
tag means the same in a directory and in a tar.

Reading: a tag is looked up as in a layout; a reference with neither tag nor digest means the
only image of the tar (the only tagged one when some are tagged), else ``latest``. A ``.tar.gz``
is read the same way. Referrers are found by scanning the manifests ``index.json`` lists; a
manifest with a ``subject`` is always listed there (untagged), which is where other tools
(ORAS) put referrers in a layout too.

Writing (see :mod:`ocistore_ocifile.store`): the first write opens a session that starts a new
tar with ``oci-layout``; blobs and manifests are appended as they come; ``index.json`` goes last
when the session commits: at the end of a ``batch`` (the copy engine wraps each copy in one),
after each manifest or tag change made outside a batch, and on ``close``. A blob put outside a
batch waits for the next of those. Nothing is ever garbage-collected: adding an image keeps what
was there, and a moved tag leaves its old manifest in the tar.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ocistore.blob import BlobReader
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    LayoutError,
    ManifestNotFoundError,
    MissingDigestError,
    MissingTagError,
    OCIStoreError,
    RepositoryNotFoundError,
    SizeLimitExceededError,
    TagNotFoundError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore.mediatype import MANIFEST_TYPES, OCTET_STREAM
from ocistore.scheme import SchemeBase, SchemeInfo
from ocistore_ocidir.index import REF_NAME, Index
from ocistore_ocifile.common import TarFiles, blob_name, paged, translate_oserrors

if TYPE_CHECKING:
    from ocistore.ref import Ref
    from ocistore.settings import Settings
    from ocistore_ocifile.members import Archive, Member
    from ocistore_ocifile.store import Session, TarFile

__all__ = ["LAYOUT_FILE", "OCIFile", "select"]

LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'
_DEFAULT_TAG = "latest"


def _names(entry: dict[str, Any]) -> list[str]:
    annotations = entry.get("annotations")
    if not isinstance(annotations, dict):
        return []
    return [v for k, v in annotations.items() if k == REF_NAME and isinstance(v, str) and v]


def _listing(entries: list[dict[str, Any]]) -> str:
    return ", ".join((_names(e) or [str(e.get("digest"))])[0] for e in entries) or "nothing"


def select(index: Index, what: str, scheme: str) -> dict[str, Any]:
    """The entry a reference without tag or digest means: the only (tagged) one, or latest."""
    entries = list(index)
    tagged = [e for e in entries if _names(e)]
    candidates = tagged or entries
    if len(candidates) == 1:
        return candidates[0]
    latest = index.find_tag(_DEFAULT_TAG)
    if latest is not None:
        return latest
    if not candidates:
        raise ManifestNotFoundError(f"{what} holds no images")
    raise LayoutError(
        f"{what} holds {len(candidates)} images ({_listing(candidates)}); which one?",
        hint=f"name one in the reference ({scheme}://PATH:TAG or @DIGEST), "
        "or with image import --name NAME",
    )


class OCIFile(SchemeBase):
    """OCI layout tars. Thread-safe: one lock per tar serialises its writes."""

    name = "ocifile"

    def __init__(self, settings: Settings | None = None) -> None:
        if settings is not None:
            settings.scheme_options(self.name, known=())  # none yet: refuse typos
        self._files = TarFiles(self.name)
        self._parsed: dict[int, tuple[object, Index]] = {}
        self._subjects: dict[str, str | None] = {}
        self._mutex = threading.Lock()

    def info(self) -> SchemeInfo:
        return SchemeInfo(referrers_api=True, tag_delete=True, blob_delete=True)

    # -- reading the index ----------------------------------------------------------------------
    def _what(self, tf: TarFile) -> str:
        return f"OCI layout tar {tf.path}"

    def _committed(self, tf: TarFile) -> Index | None:
        """The index.json of the tar on disk (``None``: no tar yet), parsed once per version."""
        archive = tf.archive()
        if archive is None:
            return None
        with self._mutex:
            cached = self._parsed.get(id(tf))
            if cached is not None and cached[0] is archive:
                return cached[1]
        what = self._what(tf)
        if "oci-layout" not in archive or "index.json" not in archive:
            if "manifest.json" in archive:
                raise LayoutError(
                    f"{tf.path} is a docker-save tar, not an OCI layout tar",
                    hint=f"read it as dockertar://{tf.path}",
                )
            raise LayoutError(f"{tf.path} is not an OCI layout tar (no oci-layout and index.json)")
        try:
            layout = json.loads(archive.read_small("oci-layout", 64 * 1024))
        except ValueError as e:
            raise LayoutError(f"{what}: oci-layout is not valid JSON: {e}") from None
        version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
        if version != "1.0.0":
            raise LayoutError(
                f"{what}: unsupported imageLayoutVersion {version!r} (expected '1.0.0')"
            )
        index = Index.parse(
            archive.read_small("index.json", MAX_MANIFEST_SIZE), f"{what}: index.json"
        )
        with self._mutex:
            self._parsed[id(tf)] = (archive, index)
        return index

    def _index(self, tf: TarFile) -> Index | None:
        """The index as this instance sees it: the session's while one is open."""
        with tf.lock:
            if tf.session is not None:
                assert isinstance(tf.state, Index)
                return tf.state
        return self._committed(tf)

    def _need_index(self, tf: TarFile, ref: Ref) -> Index:
        index = self._index(tf)
        if index is None:
            raise ManifestNotFoundError(f"{ref}: {tf.path} does not exist")
        return index

    # -- writing --------------------------------------------------------------------------------
    def _session(self, tf: TarFile) -> Session:
        """The open session (hold ``tf.lock``), started with a copy of the current index."""
        if tf.session is None:
            self._committed(tf)  # refuse a tar that is not a layout before locking anything
            session = tf.begin(lambda s: s.add_bytes("oci-layout", LAYOUT_FILE))
            try:  # read again under the lock: another process may have committed meanwhile
                index = self._committed(tf)
            except BaseException:
                tf.abort()
                raise
            tf.state = Index.parse(index.to_bytes(), "index.json") if index else Index.empty()
            return session
        return tf.session

    def _commit(self, tf: TarFile) -> None:
        with tf.lock:
            if tf.session is None:
                return
            assert isinstance(tf.state, Index)
            raw = tf.state.to_bytes()
            tf.finish({"index.json": raw}, keep=lambda name: name != "oci-layout")

    def _blob(self, tf: TarFile, digest: Digest) -> tuple[Archive, Member] | None:
        """Where the blob (or manifest) ``digest`` is stored, if it is."""
        return tf.member(blob_name(digest))

    def _raw(self, tf: TarFile, digest: Digest) -> bytes | None:
        """The stored bytes of manifest ``digest`` (bounded), or ``None``."""
        found = self._blob(tf, digest)
        if found is None:
            return None
        archive, member = found
        if member.size > MAX_MANIFEST_SIZE:
            raise SizeLimitExceededError(
                f"manifest {digest} in {tf} is {member.size} bytes, over the "
                f"{MAX_MANIFEST_SIZE} byte limit"
            )
        with archive.open(member) as f:
            return f.read()

    def _changed(self, tf: TarFile) -> None:
        """After a manifest or tag change: commit now unless a batch will."""
        if not tf.batching:
            self._commit(tf)

    # -- blobs ----------------------------------------------------------------------------------
    @translate_oserrors("blob get")
    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        tf = self._files.get(ref)
        self._need_index(tf, ref)
        found = self._blob(tf, digest)
        if found is None:
            raise BlobNotFoundError(f"blob {digest} not found in {self._what(tf)}")
        archive, member = found
        if size is not None and member.size != size:
            raise SizeLimitExceededError(
                f"blob {digest} in {self._what(tf)} is {member.size} bytes, but its descriptor "
                f"says {size}"
            )
        return BlobReader(
            archive.open(member), digest=digest, size=member.size, name=f"blob {digest} in {tf}"
        )

    @translate_oserrors("blob head")
    def blob_head(self, ref: Ref, digest: Digest) -> Descriptor:
        tf = self._files.get(ref)
        if self._index(tf) is None:
            raise BlobNotFoundError(f"blob {digest} not found: {tf.path} does not exist")
        found = self._blob(tf, digest)
        if found is None:
            raise BlobNotFoundError(f"blob {digest} not found in {self._what(tf)}")
        return Descriptor(OCTET_STREAM, digest, found[1].size)

    @translate_oserrors("blob put")
    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: Any, length: int | None
    ) -> tuple[Digest, int]:
        tf = self._files.get(ref)
        with tf.lock:
            session = self._session(tf)
            if digest is not None:
                existing = session.member(blob_name(digest))
                if existing is not None and (length is None or existing[1].size == length):
                    return digest, existing[1].size
            got, size, offset = session.writer.add_stream(
                blob_name,
                reader,
                digest=digest,
                length=length,
                what=f"blob put to {ref}",
                wanted=lambda name: session.member(name) is None,
            )
            if offset is not None:
                session.added(blob_name(got), offset, size)
            return got, size

    @translate_oserrors("blob delete")
    def blob_delete(self, ref: Ref, digest: Digest) -> None:
        tf = self._files.get(ref)
        self.blob_head(ref, digest)
        with tf.lock:
            self._session(tf).delete(blob_name(digest))
            self._changed(tf)

    # -- manifests ------------------------------------------------------------------------------
    def _resolve(self, tf: TarFile, ref: Ref) -> tuple[Digest, dict[str, Any] | None]:
        with tf.lock:
            index = self._need_index(tf, ref)
            if ref.digest is not None:
                return ref.digest, index.find_digest(ref.digest)
            if ref.tag:
                entry = index.find_tag(ref.tag)
                if entry is None:
                    raise ManifestNotFoundError(
                        f"tag {ref.tag!r} not found in {self._what(tf)} "
                        f"(has: {_listing([e for e in index if _names(e)])})"
                    )
            else:
                entry = select(index, self._what(tf), self.name)
            return index.descriptor(entry).digest, entry

    def _read(self, tf: TarFile, ref: Ref) -> tuple[Manifest, dict[str, Any] | None]:
        digest, entry = self._resolve(tf, ref)
        raw = self._raw(tf, digest)
        if raw is None:
            raise ManifestNotFoundError(f"manifest {digest} not found in {self._what(tf)}")
        media_type = str(entry.get("mediaType") or "") if entry else ""
        manifest = Manifest.from_bytes(raw, media_type=media_type or None, expected_digest=digest)
        return manifest, entry

    @translate_oserrors("manifest get")
    def manifest_get(self, ref: Ref) -> Manifest:
        return self._read(self._files.get(ref), ref)[0]

    @translate_oserrors("manifest head")
    def manifest_head(self, ref: Ref) -> Descriptor:
        manifest = self.manifest_get(ref)
        return Descriptor(manifest.media_type, manifest.digest, manifest.size)

    @translate_oserrors("manifest put")
    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        manifest.check_writable()
        digest = manifest.digest
        if ref.digest is not None:
            actual = Digest.from_bytes(manifest.raw, ref.digest.algorithm)
            if actual != ref.digest:
                raise DigestMismatchError(
                    f"manifest put to {ref}: the manifest's content hashes to {actual}"
                )
            digest = ref.digest
        tf = self._files.get(ref)
        with tf.lock:
            session = self._session(tf)
            name = blob_name(digest)
            if session.member(name) is None:
                session.add_bytes(name, manifest.raw)
            index = tf.state
            assert isinstance(index, Index)
            entry = {"mediaType": manifest.media_type, "digest": str(digest), "size": manifest.size}
            if not child:  # neither tag nor digest: the default tag, as every scheme does
                index.put(entry, ref.tag or (None if ref.digest is not None else "latest"))
            if manifest.subject is not None:
                referrer = manifest.referrer_descriptor().replace(digest=digest).to_dict()
                index.put(referrer, None)
            self._changed(tf)

    @translate_oserrors("manifest delete")
    def manifest_delete(self, ref: Ref) -> None:
        if ref.digest is None:
            raise MissingDigestError(
                f"manifest delete needs a digest, and {ref} has none",
                hint="resolve the tag to a digest first, or use tag delete to remove one tag",
            )
        tf = self._files.get(ref)
        with tf.lock:
            index = self._need_index(tf, ref)
            name = blob_name(ref.digest)
            if not index.has_digest(ref.digest) and self._blob(tf, ref.digest) is None:
                raise ManifestNotFoundError(f"manifest {ref.digest} not found in {self._what(tf)}")
            session = self._session(tf)
            assert isinstance(tf.state, Index)
            tf.state.remove_digest(ref.digest)
            session.delete(name)
            self._changed(tf)

    # -- tags -----------------------------------------------------------------------------------
    @translate_oserrors("tag list")
    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        tf = self._files.get(ref)
        with tf.lock:
            index = self._index(tf)
            if index is None:
                raise RepositoryNotFoundError(f"{ref}: {tf.path} does not exist")
            tags = index.tags()
        return paged(tags, limit, last)

    @translate_oserrors("tag delete")
    def tag_delete(self, ref: Ref) -> None:
        if not ref.tag:
            raise MissingTagError(f"tag delete needs a tag, and {ref} has none")
        tf = self._files.get(ref)
        with tf.lock:
            index = self._index(tf)
            if index is None or index.find_tag(ref.tag) is None:
                raise TagNotFoundError(f"tag {ref.tag!r} not found in {self._what(tf)}")
            self._session(tf)
            assert isinstance(tf.state, Index)
            tf.state.remove_tag(ref.tag)
            self._changed(tf)

    # -- referrers ------------------------------------------------------------------------------
    def _subject(self, tf: TarFile, digest: Digest) -> str | None:
        key = str(digest)
        with self._mutex:
            if key in self._subjects:
                return self._subjects[key]
        try:
            raw = self._raw(tf, digest)
        except SizeLimitExceededError:
            raw = None
        if raw is None:
            return None
        if Digest.from_bytes(raw, digest.algorithm) != digest:
            return None  # damaged: not cached, and not trusted
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            doc = None
        subject = doc.get("subject") if isinstance(doc, dict) else None
        value = subject.get("digest") if isinstance(subject, dict) else None
        result = value if isinstance(value, str) else None
        with self._mutex:
            self._subjects[key] = result
        return result

    @translate_oserrors("referrers")
    def referrers(
        self, ref: Ref, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        tf = self._files.get(ref)
        with tf.lock:
            index = self._index(tf)
            entries = list(index) if index is not None else []
        out: list[Descriptor] = []
        seen: set[str] = set()
        for entry in entries:
            media_type = str(entry.get("mediaType") or "")
            if media_type and media_type not in MANIFEST_TYPES:
                continue
            try:
                entry_digest = Digest.parse(str(entry.get("digest", "")))
            except OCIStoreError:
                continue
            if str(entry_digest) in seen or self._subject(tf, entry_digest) != str(digest):
                continue
            seen.add(str(entry_digest))
            manifest = self._read(tf, ref.with_digest(entry_digest))[0]
            out.append(manifest.referrer_descriptor().replace(digest=entry_digest))
        if artifact_type:
            out = [d for d in out if d.artifact_type == artifact_type]
        return out

    # -- lifecycle ------------------------------------------------------------------------------
    @translate_oserrors("ping")
    def ping(self, ref: Ref) -> None:
        """A missing tar is fine (the first write creates it); a broken one is not."""
        self._index(self._files.get(ref))

    @contextlib.contextmanager
    def batch(self, ref: Ref) -> Iterator[None]:
        tf = self._files.get(ref)
        with tf.batch(lambda: self._commit(tf)):
            yield

    @translate_oserrors("close")
    def close(self, ref: Ref) -> None:
        """Write what is pending (``index.json`` last) and rename the new tar into place."""
        tf = self._files.get(ref)
        if not tf.batching:
            self._commit(tf)
