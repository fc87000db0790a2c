"""One unit of a sync: make one target tag hold what one source tag holds.

The check is cheap on purpose, so that a run right after another costs only HEAD requests:
HEAD the source, HEAD the target, and stop when the digests agree (unless the entry copies
referrers or digest tags, whose presence a HEAD cannot show; ``fast`` skips those too). The
copy engine's first step is exactly that check, so a plain entry goes straight to it; only
``sync check``, a backup (which needs the old digest) and a platform filter check first. With
a platform filter the target holds a smaller index than the source, so the digest to expect
is computed from the source index (one GET of a small document) the way the copy writes it.

Before a target tag that holds something else is overwritten, the old manifest is tagged with
the entry's backup name, so the previous content stays reachable. A tag the source no longer
has is never looked at: nothing is ever deleted from the target.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ocistore.errors import NotFoundError, OCIStoreError
from ocistore.sync.config import backup_name
from ocistore.sync.report import TagResult

if TYPE_CHECKING:
    from ocistore.client import Client
    from ocistore.copy.options import CopyOptions
    from ocistore.descriptor import Descriptor
    from ocistore.digest import Digest
    from ocistore.ref import Ref
    from ocistore.sync.config import Entry

__all__ = ["Unit", "run_unit"]


@dataclass(frozen=True)
class Unit:
    """``source`` (with its tag or digest) to ``target`` (with its tag) for ``entry``."""

    entry: Entry
    source: Ref
    target: Ref

    @property
    def key(self) -> str:
        """The shard key: the target reference, which is unique within a config."""
        return str(self.target)


def copy_options(entry: Entry) -> CopyOptions:
    from ocistore.copy.options import CopyOptions

    return CopyOptions(
        platforms=entry.platforms,
        referrers=entry.referrers or bool(entry.referrers_artifact_type),
        referrers_artifact_type=entry.referrers_artifact_type,
        digest_tags=entry.digest_tags,
        fast=entry.fast,
        force_recursive=entry.force_recursive,
        include_external=entry.include_external,
        concurrency=entry.concurrency,
        attempts=entry.attempts,
    )


def _head(client: Client, ref: Ref) -> Descriptor | None:
    try:
        return client.manifest_head(ref)
    except NotFoundError:
        return None


def expected_digest(client: Client, unit: Unit, head: Descriptor) -> Digest:
    """The digest the target tag has once the copy is done (differs with a platform filter)."""
    from ocistore.copy.sparse import PlatformFilter, rewrite_index
    from ocistore.mediatype import INDEX_TYPES

    if not unit.entry.platforms or head.media_type not in INDEX_TYPES:
        return head.digest

    index = client.manifest_get(unit.source.with_digest(head.digest, keep_tag=False))
    keep = PlatformFilter(unit.entry.platforms)
    kept = [i for i, d in enumerate(index.manifests) if keep.keeps(d)]
    if any(index.manifests[i].media_type in INDEX_TYPES for i in kept):
        # A nested index is filtered in turn; only a copy can say what it becomes.
        return head.digest
    if len(kept) == len(index.manifests):
        return head.digest
    return rewrite_index(index, kept, {}).digest


def _missing_referrers(client: Client, unit: Unit, digest: Digest) -> int:
    """Referrers of the source manifest that the target does not list (for ``sync check``)."""
    artifact_type = unit.entry.referrers_artifact_type
    want = {
        d.digest for d in client.referrers(unit.source, digest=digest, artifact_type=artifact_type)
    }
    if not want:
        return 0
    have = {
        d.digest for d in client.referrers(unit.target, digest=digest, artifact_type=artifact_type)
    }
    return len(want - have)


def _backup(client: Client, unit: Unit, old: Descriptor) -> str:
    """Tag the target's current manifest with the backup name; returns that tag."""
    assert unit.entry.backup is not None
    name = backup_name(
        unit.entry.backup, tag=unit.target.tag, digest_hex=old.digest.encoded, when=time.time()
    )
    manifest = client.manifest_get(unit.target.with_digest(old.digest))
    client.manifest_put(unit.target.with_tag(name), manifest)
    return name


def run_unit(client: Client, unit: Unit, *, check: bool) -> TagResult:
    """Sync (or with ``check``, only compare) one unit; failures are returned, not raised."""
    started = time.monotonic()
    result = TagResult(source=str(unit.source), target=str(unit.target), status="skipped")
    for attempt in (1, 2):
        try:
            _run(client, unit, check, result)
            break
        except OCIStoreError as e:
            result.status = "failed"
            result.error = " ".join(str(e).split())
            # Tags of one repository sharing a layer upload it at the same moment; distribution
            # can then refuse a manifest with BLOB_UNKNOWN although the blob is there a moment
            # later. The copy resumes (what arrived is skipped), so one more go settles it.
            if attempt == 2 or check or "BLOB_UNKNOWN" not in result.error:
                break
            result.status, result.error = "skipped", None
            time.sleep(0.2)
    result.seconds = time.monotonic() - started
    return result


def _copy(client: Client, unit: Unit, source: Ref, result: TagResult, *, current: bool) -> None:
    """Run the copy; ``current``: the target was seen up to date (or not looked at), so only
    what the copy pushed makes the tag "copied"."""
    copied = client.image_copy(source, unit.target, options=copy_options(unit.entry))
    result.digest = str(copied.digest)
    result.bytes = copied.bytes_copied
    result.blobs = copied.blobs_copied + copied.blobs_mounted
    result.manifests = copied.manifests_pushed
    pushed = (
        copied.manifests_pushed or result.blobs or copied.tags_copied or copied.referrers_copied
    )
    result.status = "copied" if not copied.skipped and (pushed or not current) else "skipped"


def _run(client: Client, unit: Unit, check: bool, result: TagResult) -> None:
    entry = unit.entry
    if not (check or entry.backup or entry.platforms):
        # The copy's own first step is the same two HEADs: let it decide, rather than send
        # them twice for every tag that does need copying.
        _copy(client, unit, unit.source, result, current=True)
        return
    src_head = client.manifest_head(unit.source)
    expected = expected_digest(client, unit, src_head)
    result.digest = str(expected)
    tgt_head = _head(client, unit.target)
    result.target_digest = str(tgt_head.digest) if tgt_head is not None else None
    current = tgt_head is not None and tgt_head.digest == expected
    recursive = entry.referrers or entry.digest_tags or entry.force_recursive
    if current and (entry.fast or not recursive):
        return
    if check:
        if not current:
            result.status = "drift"
            result.reason = "missing" if tgt_head is None else "differs"
        elif entry.referrers and _missing_referrers(client, unit, src_head.digest):
            result.status = "drift"
            result.reason = "referrers missing"
        return
    if tgt_head is not None and not current and entry.backup:
        result.backup = _backup(client, unit, tgt_head)
    _copy(
        client,
        unit,
        unit.source.with_digest(src_head.digest, keep_tag=True),
        result,
        current=current,
    )
