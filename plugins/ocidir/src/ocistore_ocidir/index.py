"""The ``index.json`` model: entries, tags, and the rules for changing them.

Entries are kept as the JSON objects they were read as, so that fields we do not know (platform,
urls, other tools' annotations, digests of algorithms we cannot verify) are written back
unchanged. Lookups go through dictionaries kept beside the entry list, so that adding or moving a
tag is O(1) and a batch of N tag updates costs O(N), not O(N^2).

Tag rules (image-spec plus what other tools write):

* a tag is the ``org.opencontainers.image.ref.name`` annotation of an entry;
* lookup is an exact match first, then a full reference ending in ``:<tag>`` (containerd and
  buildkit write ``docker.io/library/x:tag``);
* one digest may carry many tags (one entry per tag), and untagged entries are allowed;
* putting a tag replaces the entry holding exactly that name, in place (the tag moves; no other
  entry changes), and drops later entries with that name and untagged duplicates of the digest;
  full-reference entries are never replaced, since several images may share the suffix;
* an untagged put adds an entry only if the digest has none yet: one root per digest suffices.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import LayoutError, ManifestInvalidError, SizeLimitExceededError
from ocistore.lazyre import LazyPattern
from ocistore.mediatype import OCI_INDEX
from ocistore_ocidir.fsutil import atomic_write, open_inside, read_inside

__all__ = [
    "MAX_INDEX_SIZE",
    "REF_NAME",
    "Index",
    "IndexFile",
    "IndexStats",
    "Snapshot",
    "tag_of_name",
]

#: The largest index.json read into memory: about a million tags. A bigger one (or a link to
#: ``/dev/zero``) is refused before it is read, so a hostile layout cannot exhaust memory.
MAX_INDEX_SIZE = 256 * 1024 * 1024

REF_NAME = "org.opencontainers.image.ref.name"
_TAG = LazyPattern(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")

Entry = dict[str, Any]


def _name(entry: Entry) -> str | None:
    annotations = entry.get("annotations")
    if isinstance(annotations, dict):
        name = annotations.get(REF_NAME)
        if isinstance(name, str) and name:
            return name
    return None


def tag_of_name(name: str) -> str | None:
    """The tag a ref.name stands for: itself, or what follows the last ``:`` of a full ref.

    ``None`` when that is not a valid tag (``localhost:5000/x`` has no tag; ``a/b`` cannot be
    addressed as ``ocidir://path:a/b``).
    """
    tag = name.rsplit(":", 1)[-1]
    return tag if _TAG.match(tag) else None


class _Multi:
    """Key -> ordered set of entry ids."""

    def __init__(self) -> None:
        self._map: dict[str, dict[int, None]] = {}

    def add(self, key: str, eid: int) -> None:
        self._map.setdefault(key, {})[eid] = None

    def discard(self, key: str, eid: int) -> None:
        ids = self._map.get(key)
        if ids is not None:
            ids.pop(eid, None)
            if not ids:
                del self._map[key]

    def get(self, key: str) -> list[int]:
        return list(self._map.get(key, ()))

    def first(self, key: str) -> int | None:
        ids = self._map.get(key)
        return next(iter(ids)) if ids else None

    def __contains__(self, key: str) -> bool:
        return key in self._map


class Index:
    """A parsed ``index.json`` with indexed lookups. Not thread-safe; callers serialise."""

    def __init__(self, doc: dict[str, Any], where: str = "index.json") -> None:
        self._where = where
        self._doc = {k: v for k, v in doc.items() if k != "manifests"}
        self._entries: dict[int, Entry] = {}
        self._next = 0
        self._by_name = _Multi()
        self._by_suffix = _Multi()
        self._by_digest = _Multi()
        self._untagged = _Multi()  # digest -> entries of it without a ref.name
        manifests = doc.get("manifests", [])
        if not isinstance(manifests, list):
            raise LayoutError(f"{where}: manifests is not a list")
        for i, entry in enumerate(manifests):
            if not isinstance(entry, dict):
                raise LayoutError(f"{where}: manifests[{i}] is not an object")
            self._add(entry)

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> Index:
        return cls({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})

    @classmethod
    def parse(cls, raw: bytes, where: str) -> Index:
        """Parse ``raw``; anything that is not an index object is a ``LayoutError`` naming it."""
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise LayoutError(f"{where} is not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise LayoutError(f"{where} is not a JSON object")
        return cls(doc, where)

    def to_bytes(self) -> bytes:
        """Compact JSON, keys in their original order, ``manifests`` where it was."""
        doc = dict(self._doc)
        doc.setdefault("schemaVersion", 2)
        doc["manifests"] = list(self._entries.values())
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()

    # -- bookkeeping ------------------------------------------------------------------------------
    def _keys(self, entry: Entry) -> tuple[str | None, str | None, str | None]:
        name = _name(entry)
        suffix = tag_of_name(name) if name and ":" in name else None
        digest = entry.get("digest")
        return name, suffix, digest if isinstance(digest, str) else None

    def _add(self, entry: Entry) -> int:
        eid = self._next
        self._next += 1
        self._entries[eid] = entry
        self._index(entry, eid)
        return eid

    def _index(self, entry: Entry, eid: int) -> None:
        name, suffix, digest = self._keys(entry)
        if name is not None:
            self._by_name.add(name, eid)
        if suffix is not None:
            self._by_suffix.add(suffix, eid)
        if digest is not None:
            self._by_digest.add(digest, eid)
            if name is None:
                self._untagged.add(digest, eid)

    def _unindex(self, entry: Entry, eid: int) -> None:
        name, suffix, digest = self._keys(entry)
        if name is not None:
            self._by_name.discard(name, eid)
        if suffix is not None:
            self._by_suffix.discard(suffix, eid)
        if digest is not None:
            self._by_digest.discard(digest, eid)
            self._untagged.discard(digest, eid)

    def _remove(self, eid: int) -> None:
        self._unindex(self._entries.pop(eid), eid)

    def _replace(self, eid: int, entry: Entry) -> None:
        """Swap the entry in place: position (and so index.json order) is kept."""
        self._unindex(self._entries[eid], eid)
        self._entries[eid] = entry
        self._index(entry, eid)

    # -- queries ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def find_tag(self, tag: str) -> Entry | None:
        """The entry for ``tag``: exact ref.name first, then a full reference ending ``:tag``."""
        for multi in (self._by_name, self._by_suffix):
            eid = multi.first(tag)
            if eid is not None:
                return self._entries[eid]
        return None

    def find_name(self, name: str) -> Entry | None:
        """The entry whose ref.name is exactly ``name`` (fallback referrers tags use this)."""
        eid = self._by_name.first(name)
        return self._entries[eid] if eid is not None else None

    def find_digest(self, digest: Digest | str) -> Entry | None:
        eid = self._by_digest.first(str(digest))
        return self._entries[eid] if eid is not None else None

    def has_digest(self, digest: Digest | str) -> bool:
        return str(digest) in self._by_digest

    def tags(self) -> list[str]:
        """Sorted, deduplicated tags; full references contribute what follows their last ``:``."""
        out = set()
        for entry in self._entries.values():
            name = _name(entry)
            if name is not None:
                tag = tag_of_name(name)
                if tag is not None:
                    out.add(tag)
        return sorted(out)

    def descriptor(self, entry: Entry) -> Descriptor:
        """The entry as a ``Descriptor``; an entry we cannot use is a ``LayoutError``."""
        try:
            return Descriptor.from_dict(entry, where=f"{self._where} entry")
        except ManifestInvalidError as e:
            raise LayoutError(str(e)) from None

    # -- changes ----------------------------------------------------------------------------------
    def put(self, entry: Entry, tag: str | None) -> None:
        """Record ``entry`` (without annotations of its own) under ``tag``, or untagged."""
        digest = str(entry["digest"])
        if tag is None:
            if digest not in self._by_digest:
                self._add(dict(entry))
            return
        new = dict(entry)
        new["annotations"] = {**(entry.get("annotations") or {}), REF_NAME: tag}
        candidates = sorted({*self._by_name.get(tag), *self._untagged.get(digest)})
        if not candidates:
            self._add(new)
            return
        first, *rest = candidates
        self._replace(first, new)
        for eid in rest:
            self._remove(eid)

    def remove_digest(self, digest: Digest | str) -> int:
        """Drop every entry of ``digest`` (every tag of it); returns how many."""
        ids = self._by_digest.get(str(digest))
        for eid in ids:
            self._remove(eid)
        return len(ids)

    def remove_tag(self, tag: str) -> int:
        """Drop the entries named exactly ``tag``, else those whose full reference ends ``:tag``."""
        ids = self._by_name.get(tag) or self._by_suffix.get(tag)
        for eid in ids:
            self._remove(eid)
        return len(ids)

    def remove_name(self, name: str) -> int:
        """Drop the entries named exactly ``name``."""
        ids = self._by_name.get(name)
        for eid in ids:
            self._remove(eid)
        return len(ids)


class IndexStats:
    """Counters for tests and benchmarks: how often index.json was parsed and replaced."""

    def __init__(self) -> None:
        self.parses = 0
        self.writes = 0
        self.bytes_written = 0

    def __repr__(self) -> str:
        return (
            f"IndexStats(parses={self.parses}, writes={self.writes}, "
            f"bytes_written={self.bytes_written})"
        )


#: How old (by its ctime) an index.json version must be, when read, for its ``fstat`` signature
#: alone to identify it later. A younger version may share its signature with a successor:
#: file systems recycle inode numbers at once (ext4 hands a new file the number of one just
#: deleted) and stamp times with a coarse clock (jiffies before Linux 6.13, whole seconds on
#: some), so a version written within the same tick, into a recycled inode, with the same size
#: (a tag moved to another digest) looks identical. Those are compared byte for byte instead
#: (git's "racily clean" index entries, the same problem). The window assumes the file
#: system's clock agrees with ours to within it.
RACY_NS = 3_000_000_000


# Plain classes (treat as immutable), not dataclasses: this module is on every layout
# command's start-up path, and nothing compares or copies these.
class Snapshot:
    """One version of index.json: its bytes (``None``: no file) and their shared parse."""

    __slots__ = ("index", "raw")

    def __init__(self, raw: bytes | None, index: Index) -> None:
        self.raw = raw
        self.index = index


class _Cached:
    __slots__ = ("settled", "signature", "snapshot")

    def __init__(
        self, signature: tuple[int, int, int, int], settled: bool, snapshot: Snapshot
    ) -> None:
        self.signature = signature
        self.settled = settled  # old enough, when read, for the signature to identify it
        self.snapshot = snapshot


class IndexFile:
    """``index.json`` on disk: cached reads and atomic replacement.

    Reads take no lock: the file is only ever replaced by ``rename``, so a reader sees one whole
    version. A parsed read is cached; the cache is reused without reading the file again only
    while its identity (inode, size, mtime, ctime) is unchanged *and* the cached version was
    already settled when read (see :data:`RACY_NS`); otherwise the bytes are read and compared.
    """

    def __init__(self, path: Path, where: str) -> None:
        self.path = path
        self.where = where
        self.stats = IndexStats()
        self._cache: _Cached | None = None

    def read_raw(self) -> bytes | None:
        """The current bytes, or ``None`` if there is no index.json yet."""
        try:
            return read_inside(self.path, MAX_INDEX_SIZE, self.where)
        except FileNotFoundError:
            return None

    def parse(self, raw: bytes | None) -> Index:
        """A fresh, private ``Index`` for ``raw`` (an empty index for ``None``)."""
        if raw is None:
            return Index.empty()
        self.stats.parses += 1
        return Index.parse(raw, self.where)

    def snapshot(self) -> Snapshot:
        """The current version, shared and cached: callers must not change its ``index``.

        The same version comes back as the same ``Snapshot`` object (and ``raw`` object), so
        callers can tell "unchanged" by identity.
        """
        try:
            fh = open_inside(self.path, self.where)
        except FileNotFoundError:
            return Snapshot(None, Index.empty())
        with fh:
            now = time.time_ns()
            st = os.fstat(fh.fileno())
            signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            cached = self._cache
            if cached is not None and cached.settled and cached.signature == signature:
                return cached.snapshot
            if st.st_size > MAX_INDEX_SIZE:
                raise SizeLimitExceededError(
                    f"{self.where} is {st.st_size} bytes, over the {MAX_INDEX_SIZE} byte limit"
                )
            raw = fh.read(MAX_INDEX_SIZE + 1)
            if len(raw) > MAX_INDEX_SIZE:
                raise SizeLimitExceededError(f"{self.where} grew past {MAX_INDEX_SIZE} bytes")
        if cached is not None and cached.snapshot.raw == raw:
            snapshot = cached.snapshot
        else:
            snapshot = Snapshot(raw, self.parse(raw))
        settled = max(st.st_mtime_ns, st.st_ctime_ns) + RACY_NS < now
        self._cache = _Cached(signature, settled, snapshot)
        return snapshot

    def load(self) -> Index:
        """The current index, shared and cached: callers must not change it."""
        return self.snapshot().index

    def write_raw(self, raw: bytes) -> None:
        """Atomically replace index.json with ``raw`` (the bytes of an ``Index``)."""
        atomic_write(self.path, raw)
        self.stats.writes += 1
        self.stats.bytes_written += len(raw)
        self._cache = None
