"""Garbage collection of a layout, and the bookkeeping that decides when it may run.

``collect`` is mark and sweep. Roots are the index.json entries; marking walks indexes to their
entries and manifests to their config and layers (configs and layers are marked, never read).
A ``subject`` is not followed: a referrer does not keep the image it refers to alive, and
referrers themselves survive through their fallback tag, which is an index.json entry like any
tag. A child that is missing is tolerated, so sparse layouts (one platform of an index copied)
survive. The sweep removes every file in ``blobs/<alg>/`` that was not marked, including temp
files a crashed writer left, and our own stray index.json temp files at the top. Directories of
algorithms we cannot parse are left alone: their content cannot be marked, so it is not ours to
judge. If index.json is missing or unreadable, nothing is collected at all.

:class:`GCTracker` decides *whether* to collect: only when this instance changed the layout, no
``gc_lock`` or running write of this instance holds it, and no other process is writing (see
:mod:`ocistore_ocidir.locking`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocistore.digest import Digest
from ocistore.errors import LayoutError, SizeLimitExceededError
from ocistore.manifest import MAX_MANIFEST_SIZE
from ocistore.mediatype import MANIFEST_TYPES
from ocistore_ocidir.fsutil import fsync_dir, is_temp_name, read_inside
from ocistore_ocidir.index import MAX_INDEX_SIZE, Index
from ocistore_ocidir.layout import GC_LOCK, INDEX_FILE, LAYOUT_FILE, Layout
from ocistore_ocidir.locking import SharedExclusiveLock

__all__ = ["GCReport", "GCTracker", "collect"]

log = logging.getLogger(__name__)


@dataclass
class GCReport:
    """What a collection did; ``skipped`` says why it did nothing, when it did nothing."""

    marked: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: str = ""


class _AbortError(Exception):
    """A reachable manifest could not be read (not merely missing): collect nothing."""


def _may_be_manifest(media_type: str) -> bool:
    return not media_type or media_type in MANIFEST_TYPES or media_type.endswith("json")


def _children(layout: Layout, desc: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """What ``desc`` points at, as (descriptor, descend) pairs; nothing for missing blobs."""
    media_type = str(desc.get("mediaType") or "")
    size = desc.get("size")
    if not _may_be_manifest(media_type) or (isinstance(size, int) and size > MAX_MANIFEST_SIZE):
        return []
    try:
        digest = Digest.parse(str(desc.get("digest")))
        path = layout.blob_path(digest)
        if os.lstat(path).st_size > MAX_MANIFEST_SIZE:
            return []
        doc = json.loads(read_inside(path, MAX_MANIFEST_SIZE, layout.relative(path)))
    except FileNotFoundError:
        return []  # sparse layout: a child that was never copied
    except (LayoutError, SizeLimitExceededError):
        return []  # a link or a special file where a blob should be: not followed, a leaf
    except OSError as e:
        raise _AbortError(f"cannot read {desc.get('digest')}: {e}") from e
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []  # not JSON (or an unparsable digest): a leaf
    if not isinstance(doc, dict):
        return []
    out: list[tuple[dict[str, Any], bool]] = []
    for key, descend in (("manifests", True), ("layers", False), ("blobs", False)):
        items = doc.get(key)
        if isinstance(items, list):
            out.extend((d, descend) for d in items if isinstance(d, dict))
    if isinstance(doc.get("config"), dict):
        out.append((doc["config"], False))
    return out


def _mark(layout: Layout, index: Index) -> set[str]:
    marked: set[str] = set()
    stack: list[tuple[dict[str, Any], bool]] = [(entry, True) for entry in index]
    while stack:
        desc, descend = stack.pop()
        digest = desc.get("digest")
        if not isinstance(digest, str) or digest in marked:
            continue
        marked.add(digest)
        if descend:
            stack.extend(_children(layout, desc))
    return marked


def collect(layout: Layout) -> GCReport:
    """Remove what index.json cannot reach. The caller holds the GC lock exclusively."""
    report = GCReport()
    try:
        where = f"{layout}/{INDEX_FILE}"
        index = Index.parse(read_inside(layout.index_file, MAX_INDEX_SIZE, where), where)
        marked = _mark(layout, index)
        algorithms = [a for a in Digest.supported_algorithms() if layout.check_blob_dir(a)]
    except FileNotFoundError:
        report.skipped = "no index.json"
        return report
    except (LayoutError, SizeLimitExceededError, _AbortError, OSError) as e:
        report.skipped = str(e)
        log.warning("ocidir: not collecting garbage in %s: %s", layout, e)
        return report
    report.marked = len(marked)
    for algorithm in algorithms:  # real directories only: a link would sweep another directory
        directory = layout.blob_dir(algorithm)
        removed_here = False
        for item in os.scandir(directory):
            if item.is_dir(follow_symlinks=False):
                continue
            if not is_temp_name(item.name) and f"{algorithm}:{item.name}" in marked:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(item.path)
                report.removed.append(f"blobs/{algorithm}/{item.name}")
                removed_here = True
        if removed_here:
            fsync_dir(directory)
    for item in os.scandir(layout.root):
        ours = item.name.startswith((f".{INDEX_FILE}.", f".{LAYOUT_FILE}."))
        if ours and is_temp_name(item.name) and item.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(item.path)
                report.removed.append(item.name)
    return report


class _PathState:
    def __init__(self, lock_path: Path) -> None:
        self.mutex = threading.RLock()
        self.holds = 0
        self.modified = False
        self.shared = SharedExclusiveLock(lock_path)


class GCTracker:
    """Per-layout holds and "modified" flags of one scheme instance.

    While this instance has modified a layout and not yet closed it, or holds ``gc_lock`` on
    it, it keeps the layout's GC lock file shared: other processes then cannot collect the
    blobs it pushed but has not referenced yet. Holds are counted, thread-safe, and nest.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._paths: dict[Path, _PathState] = {}
        self.last_report: GCReport | None = None

    def _state(self, layout: Layout) -> _PathState:
        with self._mutex:
            state = self._paths.get(layout.root)
            if state is None:
                state = self._paths[layout.root] = _PathState(layout.root / GC_LOCK)
            return state

    def holds(self, layout: Layout) -> int:
        return self._state(layout).holds

    def acquire(self, layout: Layout) -> None:
        """Hold off collection of ``layout`` by anyone (this process or another) until
        :meth:`release`; holds nest and count."""
        state = self._state(layout)
        with state.mutex:
            state.holds += 1
            try:
                if layout.root.is_dir():
                    state.shared.acquire_shared()
            except BaseException:
                state.holds -= 1
                raise

    def release(self, layout: Layout) -> None:
        state = self._state(layout)
        with state.mutex:
            state.holds -= 1
            if state.holds == 0 and not state.modified:
                state.shared.release()

    @contextlib.contextmanager
    def hold(self, layout: Layout) -> Iterator[None]:
        """``acquire`` and ``release`` around a block."""
        self.acquire(layout)
        try:
            yield
        finally:
            self.release(layout)

    def modified(self, layout: Layout) -> None:
        """This instance wrote to ``layout`` (which exists now): collect on close."""
        state = self._state(layout)
        with state.mutex:
            state.modified = True
            state.shared.acquire_shared()

    def finish(self, layout: Layout, *, enabled: bool) -> GCReport | None:
        """On close: collect if this instance modified the layout and nobody holds it."""
        state = self._state(layout)
        with state.mutex:
            if not state.modified or state.holds > 0:
                return None
            state.modified = False
            state.shared.release()
        if not enabled or not layout.root.is_dir():
            return None
        exclusive = SharedExclusiveLock(layout.root / GC_LOCK)
        if not exclusive.try_exclusive():
            log.debug("ocidir: %s is in use by another writer; not collecting", layout)
            return None
        try:
            report = collect(layout)
        finally:
            exclusive.release()
        self.last_report = report
        return report
