"""Reading the source: which manifests and blobs a copy involves, and how they relate.

The planner walks the source from the top manifest, reading every manifest it must copy (in
parallel, through the scheduler) and recording, per manifest digest, one :class:`Node`: its
children (index entries that survive the platform filter), its blobs (config and layers), its
referrers and the target tags it must carry. Digests name nodes, so content shared by several
parents is read and copied once.

What the target already has is not read at all unless the copy is recursive (referrers, digest
tags, force, or a push-first target): a child whose digest the target answers for is complete,
because a store only accepts a manifest whose children it has (or, for push-first targets,
which is why those always recurse).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ocistore.copy.progress import Emitter
from ocistore.copy.retry import Retrier
from ocistore.copy.schedule import Scheduler, Task
from ocistore.copy.sparse import PlatformFilter
from ocistore.errors import DigestMismatchError, ManifestError, NotFoundError, OCIStoreError
from ocistore.mediatype import (
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
)

if TYPE_CHECKING:
    from ocistore.copy.options import CopyOptions
    from ocistore.descriptor import Descriptor
    from ocistore.digest import Digest
    from ocistore.manifest import Manifest
    from ocistore.ref import Ref
    from ocistore.scheme import Scheme

__all__ = ["MAX_INDEX_DEPTH", "Job", "Node", "Planner"]

#: How deep indexes of indexes are followed (as for the client's platform resolution). Real
#: images use one or two levels; a hostile source could nest thousands, which would otherwise
#: exhaust the stack when the graph is finalised.
MAX_INDEX_DEPTH = 16

_MANIFESTS = MANIFEST_TYPES | {DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED}


# Job, Node and _Read are plain classes with slots, not dataclasses: every copy imports this
# module on its way to the first request, creating a dataclass costs ~0.4 ms, and nothing here
# compares, copies or prints these records.


class Job:
    """Everything about one copy that does not change while it runs (the emitter and the
    retrier are shared, thread-safe services)."""

    __slots__ = (
        "cancelled",
        "emitter",
        "options",
        "platforms",
        "push_first",
        "recursive",
        "retrier",
        "source",
        "src_scheme",
        "target",
        "tgt_scheme",
    )

    def __init__(
        self,
        *,
        src_scheme: Scheme,
        source: Ref,
        tgt_scheme: Scheme,
        target: Ref,
        options: CopyOptions,
        emitter: Emitter,
        cancelled: threading.Event,
        retrier: Retrier,
        push_first: bool,
        recursive: bool,
    ) -> None:
        self.src_scheme = src_scheme
        self.source = source
        self.tgt_scheme = tgt_scheme
        self.target = target
        self.options = options
        self.emitter = emitter
        self.cancelled = cancelled
        self.retrier = retrier
        self.push_first = push_first
        self.recursive = recursive
        self.platforms = PlatformFilter(options.platforms)

    @property
    def src_repo(self) -> Ref:
        return self.source.bare()

    @property
    def tgt_repo(self) -> Ref:
        return self.target.bare()


class Node:
    """One source manifest (by digest) and what copying it involves."""

    __slots__ = (
        "blobs",
        "children",
        "depth",
        "digest",
        "filtered",
        "final",
        "is_blob",
        "kept",
        "manifest",
        "media_type",
        "parents",
        "present",
        "probe",
        "referrer",
        "referrers",
        "size",
        "subjects",
        "tags",
        "top",
    )

    def __init__(
        self, digest: Digest, media_type: str, size: int | None = None, *, probe: bool = False
    ) -> None:
        self.digest = digest
        self.media_type = media_type
        self.size = size
        #: An index entry of unknown type: a manifest or a blob, found out by reading it.
        self.probe = probe
        self.manifest: Manifest | None = None
        #: The target has it and the copy does not recurse: nothing to read or push.
        self.present = False
        #: A probed entry that turned out to be a blob.
        self.is_blob = False
        self.children: list[Digest] = []
        #: Positions of the index entries kept by the platform filter.
        self.kept: list[int] = []
        #: An index that lost entries to the platform filter.
        self.filtered = False
        self.blobs: list[Descriptor] = []
        self.referrers: list[Digest] = []
        self.parents: list[Digest] = []
        self.subjects: list[Digest] = []
        # Roles at the target: the copy's top reference, digest tags, referrer (by digest).
        self.top = False
        self.tags: list[str] = []
        self.referrer = False
        #: What is pushed: the manifest itself, or its sparse rewrite.
        self.final: Manifest | None = None
        #: Index levels above this node on the path that found it (the top is 0).
        self.depth = 0

    @property
    def child_only(self) -> bool:
        """Reachable only through a parent index: pushed as a child (no tag, no listing)."""
        return not (self.top or self.tags or self.referrer)


class _Read:
    __slots__ = ("blob", "manifest", "present", "referrers")

    def __init__(
        self,
        *,
        manifest: Manifest | None = None,
        referrers: list[Descriptor] | None = None,
        present: bool = False,
        blob: bool = False,
    ) -> None:
        self.manifest = manifest
        self.referrers = referrers if referrers is not None else []
        self.present = present
        self.blob = blob


class Planner:
    """Builds the node graph of a copy (see the module docstring)."""

    def __init__(self, job: Job, scheduler: Scheduler) -> None:
        self.job = job
        self.scheduler = scheduler
        self.nodes: dict[Digest, Node] = {}
        self.top: Node | None = None
        self._tags_scanned: set[Digest] = set()
        self._source_tags: list[str] | None = None

    # -- entry point --------------------------------------------------------------------------
    def plan(self, top: Descriptor) -> Node:
        """Read everything reachable from ``top`` (and digest tags, if asked)."""
        node = self._node(top.digest, top.media_type, top.size)
        node.top = True
        node.probe = False  # the reference names a manifest: a failed read is an error
        self.top = node
        self.scheduler.run([self._read_task(node)])
        if self.job.options.digest_tags:
            while tasks := self._digest_tag_tasks():
                self.scheduler.run(tasks)
        return node

    def _node(self, digest: Digest, media_type: str, size: int | None) -> Node:
        node = self.nodes.get(digest)
        if node is None:
            probe = media_type not in _MANIFESTS
            node = self.nodes[digest] = Node(digest, media_type, size, probe=probe)
        return node

    # -- reading one manifest -----------------------------------------------------------------
    def _read_task(self, node: Node) -> Task[_Read]:
        where = self.job.src_repo.with_digest(node.digest)
        return Task(
            key=("read", node.digest),
            run=lambda: self._read(node),
            then=lambda read: self._integrate(node, read),
            what=f"manifest {where}",
        )

    def _read(self, node: Node) -> _Read:
        """Runs on a pool thread: touches only the schemes, never the graph."""
        where = self.job.src_repo.with_digest(node.digest)
        return self.job.retrier.call(lambda: self._read_once(node), what=f"manifest {where}")

    def _read_once(self, node: Node) -> _Read:
        job = self.job
        may_skip = not (
            node.top
            or job.recursive
            or node.probe
            or (job.platforms.active and node.media_type in INDEX_TYPES)
        )
        if may_skip and self._target_has(node.digest):
            return _Read(present=True)
        try:
            manifest = job.src_scheme.manifest_get(job.src_repo.with_digest(node.digest))
        except (NotFoundError, ManifestError):
            if node.probe:
                return _Read(blob=True)
            raise
        if manifest.digest != node.digest:
            raise DigestMismatchError(
                f"{job.src_repo.with_digest(node.digest)}: the source returned manifest "
                f"{manifest.digest} for digest {node.digest}"
            )
        referrers: list[Descriptor] = []
        if job.options.referrers:
            referrers = job.src_scheme.referrers(
                job.src_repo, node.digest, artifact_type=job.options.referrers_artifact_type
            )
        return _Read(manifest=manifest, referrers=referrers)

    def _target_has(self, digest: Digest) -> bool:
        try:
            head = self.job.tgt_scheme.manifest_head(self.job.tgt_repo.with_digest(digest))
        except NotFoundError:
            return False
        return head.digest == digest

    def _integrate(self, node: Node, read: _Read) -> list[Task[Any]]:
        """Runs on the main thread: records what was read, returns reads of new nodes."""
        if read.blob:
            node.is_blob = True
            return []
        if read.present or read.manifest is None:
            node.present = True
            return []
        manifest = node.manifest = read.manifest
        new: list[Node] = []
        if manifest.is_index:
            self._add_entries(node, manifest, new)
        else:
            self._add_blobs(node, manifest)
        for desc in read.referrers:
            ref_node, fresh = self._link(desc)
            ref_node.referrer = True
            ref_node.subjects.append(node.digest)
            node.referrers.append(desc.digest)
            if fresh:
                new.append(ref_node)
        return [self._read_task(n) for n in new]

    def _link(self, desc: Descriptor) -> tuple[Node, bool]:
        fresh = desc.digest not in self.nodes
        return self._node(desc.digest, desc.media_type, desc.size), fresh

    def _add_entries(self, node: Node, index: Manifest, new: list[Node]) -> None:
        platforms = self.job.platforms
        for i, entry in enumerate(index.manifests):
            if not platforms.keeps(entry):
                node.filtered = True
                continue
            node.kept.append(i)
            child, fresh = self._link(entry)
            if fresh:
                child.depth = node.depth + 1
                if child.depth > MAX_INDEX_DEPTH:
                    raise OCIStoreError(
                        f"index {node.digest} in {self.job.src_repo}: indexes nested more than "
                        f"{MAX_INDEX_DEPTH} deep (real images use one or two levels)"
                    )
            if node.digest not in child.parents:
                child.parents.append(node.digest)
            if entry.digest not in node.children:
                node.children.append(entry.digest)
            if fresh:
                new.append(child)
        if node.filtered and not node.kept:
            have = ", ".join(sorted({str(e.platform) for e in index.manifests if e.platform}))
            raise NotFoundError(
                f"no entry of index {node.digest} matches the platforms {platforms} "
                f"(available: {have or 'none'})"
            )

    def _add_blobs(self, node: Node, manifest: Manifest) -> None:
        job = self.job
        for desc in manifest.children():
            if desc.urls and not job.options.include_external:
                # Foreign and non-distributable layers stay where their URLs point.
                job.emitter.emit(
                    "blob-skip", desc.digest, job.tgt_repo, size=desc.size, detail="external"
                )
                continue
            node.blobs.append(desc)

    # -- digest tags --------------------------------------------------------------------------
    def _digest_tag_tasks(self) -> list[Task[Any]]:
        """Tags named after manifests found so far that were not looked for yet."""
        job = self.job
        if self._source_tags is None:
            try:
                self._source_tags = job.retrier.call(
                    lambda: job.src_scheme.tag_list(job.src_repo), what=f"tag list {job.src_repo}"
                )
            except Exception as e:
                raise self.scheduler.wrap_error(f"tag list of {job.src_repo}", e) from e
        tasks: list[Task[Any]] = []
        for digest, node in list(self.nodes.items()):
            if digest in self._tags_scanned or node.manifest is None:
                continue
            self._tags_scanned.add(digest)
            prefix = f"{digest.algorithm}-{digest.encoded}"
            for tag in self._source_tags:
                if tag == prefix or tag.startswith(prefix + "."):
                    tasks.append(self._tag_task(tag, fallback_name=tag == prefix))
        return tasks

    def _tag_task(self, tag: str, *, fallback_name: bool) -> Task[Descriptor]:
        ref = self.job.src_repo.with_tag(tag)

        def then(head: Descriptor) -> list[Task[Any]]:
            if fallback_name and head.media_type == OCI_INDEX:
                return []  # the referrers fallback tag: copied (or not) with the referrers
            node, fresh = self._link(head)
            if tag not in node.tags:
                node.tags.append(tag)
            return [self._read_task(node)] if fresh else []

        return Task(
            key=("tag", tag),
            run=lambda: self.job.retrier.call(
                lambda: self.job.src_scheme.manifest_head(ref), what=f"tag {ref}"
            ),
            then=then,
            what=f"tag {ref}",
        )
