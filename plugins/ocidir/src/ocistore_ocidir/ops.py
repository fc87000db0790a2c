"""Index changes as replayable operations.

Every change to index.json is one of these small records. A session applies each to its
in-memory view at once (so later reads in the session see it) and keeps the list; when it flushes
and finds that another process changed index.json meanwhile, it replays the list onto the fresh
version instead of overwriting it. Operations are therefore written to be replayable: they look
things up again instead of remembering positions, and on replay they tolerate that their target
has gone (``replay=True``), where a first application reports it.
"""

from __future__ import annotations

from typing import Protocol

from ocistore.digest import Digest
from ocistore.errors import TagNotFoundError
from ocistore_ocidir.blobs import BlobStore
from ocistore_ocidir.index import Entry, Index
from ocistore_ocidir.referrers import FallbackIndexes

__all__ = [
    "AddReferrer",
    "IndexOp",
    "OpEnv",
    "PutManifest",
    "RemoveManifest",
    "RemoveReferrer",
    "RemoveTag",
]


# The records below are plain classes with slots, not dataclasses: they are built on every
# layout command's start-up path, where a dataclass costs ~0.4 ms to create and gives nothing
# used here (they are never compared, copied or printed). Treat them as immutable.


class OpEnv:
    """What operations may touch besides the index: the blobs and fallback indexes."""

    __slots__ = ("blobs", "fallbacks", "where")

    def __init__(self, where: str, blobs: BlobStore, fallbacks: FallbackIndexes) -> None:
        self.where = where
        self.blobs = blobs
        self.fallbacks = fallbacks


class IndexOp(Protocol):
    def apply(self, index: Index, env: OpEnv, *, replay: bool) -> None: ...


class PutManifest:
    """Root a manifest in index.json, tagged (the tag moves here) or untagged.

    The raw bytes ride along so that the blob can be restored if a concurrent delete in
    another process removed it between our write and this index update (applied under the
    lock, so checking here closes that window).
    """

    __slots__ = ("digest", "media_type", "raw", "tag")

    def __init__(self, digest: Digest, media_type: str, raw: bytes, tag: str | None) -> None:
        self.digest = digest
        self.media_type = media_type
        self.raw = raw
        self.tag = tag

    def apply(self, index: Index, env: OpEnv, *, replay: bool) -> None:
        if not env.blobs.exists(self.digest):
            env.blobs.put_bytes(self.raw, self.digest)
        entry: Entry = {"mediaType": self.media_type, "digest": str(self.digest)}
        entry["size"] = len(self.raw)
        index.put(entry, self.tag)


class RemoveManifest:
    """Drop every index.json entry of a digest (the session deletes the blob after flushing)."""

    __slots__ = ("digest",)

    def __init__(self, digest: Digest) -> None:
        self.digest = digest

    def apply(self, index: Index, env: OpEnv, *, replay: bool) -> None:
        index.remove_digest(self.digest)


class RemoveTag:
    __slots__ = ("tag",)

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def apply(self, index: Index, env: OpEnv, *, replay: bool) -> None:
        if index.remove_tag(self.tag) == 0 and not replay:
            raise TagNotFoundError(f"tag {self.tag!r} not found in OCI layout {env.where}")


class AddReferrer:
    __slots__ = ("referrer", "subject")

    def __init__(self, subject: Digest, referrer: Entry) -> None:
        self.subject = subject
        self.referrer = referrer

    def apply(self, index: Index, env: OpEnv, *, replay: bool) -> None:
        env.fallbacks.add(index, self.subject, self.referrer)


class RemoveReferrer:
    __slots__ = ("digest", "subject")

    def __init__(self, subject: Digest, digest: Digest) -> None:
        self.subject = subject
        self.digest = digest

    def apply(self, index: Index, env: OpEnv, *, replay: bool) -> None:
        env.fallbacks.remove(index, self.subject, self.digest)
