"""What a sync did (or, for ``sync check``, would do), per tag, per entry and in total.

The JSON form (:meth:`SyncReport.to_dict`) is what ``--format json`` prints; its keys are
camelCase like every other JSON output of the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EntryReport", "SyncReport", "TagResult", "TagStatus"]

#: ``copied``: the target changed; ``skipped``: it already had everything; ``failed``;
#: ``drift``: (check only) the target is missing the tag or has another digest;
#: ``cancelled``: not started because the run was asked to stop.
TagStatus = Literal["copied", "skipped", "failed", "drift", "cancelled"]


@dataclass
class TagResult:
    """One unit: a source tag (or digest) and the target tag it is mirrored to."""

    source: str
    target: str
    status: TagStatus
    digest: str | None = None
    target_digest: str | None = None
    backup: str | None = None
    bytes: int = 0
    blobs: int = 0
    manifests: int = 0
    seconds: float = 0.0
    error: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": self.source,
            "target": self.target,
            "status": self.status,
            "digest": self.digest,
            "targetDigest": self.target_digest,
            "bytes": self.bytes,
            "blobsCopied": self.blobs,
            "manifestsPushed": self.manifests,
            "seconds": round(self.seconds, 3),
        }
        if self.backup:
            data["backup"] = self.backup
        if self.reason:
            data["reason"] = self.reason
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class EntryReport:
    """One ``[[sync]]`` entry. ``error`` is set when the entry failed before any tag ran
    (its source could not be listed, say); failed tags carry their own errors."""

    key: str
    name: str
    source: str
    target: str
    type: str
    tags: list[TagResult] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def count(self, status: TagStatus) -> int:
        return sum(1 for t in self.tags if t.status == status)

    @property
    def failed(self) -> bool:
        return self.error is not None or self.count("failed") > 0

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.count("drift"):
            return "drift"
        return "ok"

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tags)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "entry": self.key,
            "name": self.name,
            "source": self.source,
            "target": self.target,
            "type": self.type,
            "status": self.status,
            "copied": self.count("copied"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed") + (1 if self.error else 0),
            "drift": self.count("drift"),
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "tags": [t.to_dict() for t in self.tags],
        }
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class SyncReport:
    """A whole run: ``mode`` is ``run`` or ``check``; ``shard`` is ``K/N``."""

    mode: str
    shard: str
    entries: list[EntryReport] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False

    def _sum(self, status: TagStatus) -> int:
        return sum(e.count(status) for e in self.entries)

    @property
    def copied(self) -> int:
        return self._sum("copied")

    @property
    def skipped(self) -> int:
        return self._sum("skipped")

    @property
    def drift(self) -> int:
        return self._sum("drift")

    @property
    def failed_entries(self) -> list[EntryReport]:
        return [e for e in self.entries if e.failed]

    @property
    def ok(self) -> bool:
        """No failures and (for a check) no drift."""
        return not self.failed_entries and not self.drift

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "shard": self.shard,
            "ok": self.ok,
            "stopped": self.stopped,
            "copied": self.copied,
            "skipped": self.skipped,
            "failed": sum(e.count("failed") + (1 if e.error else 0) for e in self.entries),
            "drift": self.drift,
            "bytes": sum(e.bytes for e in self.entries),
            "seconds": round(self.seconds, 3),
            "failedEntries": [e.key for e in self.failed_entries],
            "entries": [e.to_dict() for e in self.entries],
        }
