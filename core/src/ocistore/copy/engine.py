"""The image copy engine: any manifest, image or index, from any scheme to any scheme.

A copy runs in three steps, all inside the target's GC lock:

1. **Check.** HEAD the source and the target reference. Equal digests end the copy at once,
   unless it is recursive (referrers, digest tags, ``force_recursive``, or a push-first target),
   in which case only ``fast`` ends it.
2. **Plan** (:mod:`.plan`). Read the source tree into a graph of nodes, one per manifest digest;
   check it for loops; write the sparse index where a platform filter dropped entries.
3. **Transfer.** Run blob copies and manifest pushes on a bounded pool (:mod:`.schedule`) in
   dependency order: children before parents, or parents first when the target declares
   ``manifest_push_first``; a referrer always after its subject. Every step skips what the
   target already has, so a copy that failed half-way resumes when run again.

Every step that talks to a scheme (the checks, each manifest read, each blob, each manifest
push) is retried as a whole after a transient failure, a bounded number of times
(:mod:`.retry`); ``CopyResult.retries`` counts those restarts.

Manifests travel as their raw bytes; only a filtered index is a new document.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from ocistore.copy.blobs import BlobOutcome, BlobTransfer
from ocistore.copy.options import CopyOptions, CopyResult
from ocistore.copy.plan import Job, Node, Planner
from ocistore.copy.progress import Emitter, ProgressCallback
from ocistore.copy.retry import Retrier, RetryPolicy
from ocistore.copy.schedule import Scheduler, Task
from ocistore.copy.sparse import rewrite_index
from ocistore.descriptor import Descriptor
from ocistore.errors import (
    CopyError,
    DigestMismatchError,
    LoopDetectedError,
    NotFoundError,
    OCIStoreError,
)
from ocistore.mediatype import OCTET_STREAM

if TYPE_CHECKING:
    from ocistore.digest import Digest
    from ocistore.manifest import Manifest
    from ocistore.ref import Ref
    from ocistore.scheme import Scheme

__all__ = ["RESUME_HINT", "copy_image"]

RESUME_HINT = "run the same copy again to resume it: content already copied is skipped"


def copy_image(
    src_scheme: Scheme,
    source: Ref,
    tgt_scheme: Scheme,
    target: Ref,
    *,
    options: CopyOptions | None = None,
    progress: ProgressCallback | None = None,
    concurrency: int = 4,
) -> CopyResult:
    """Copy ``source`` to ``target``; see the module docstring and :class:`CopyOptions`.

    ``concurrency`` is the default number of parallel transfers, which
    ``options.concurrency`` overrides.
    """
    options = options or CopyOptions()
    workers = options.concurrency if options.concurrency is not None else concurrency
    if workers < 1:
        raise OCIStoreError(f"copy concurrency must be at least 1, got {workers}")
    if options.attempts < 1 or options.retry_delay < 0:
        raise OCIStoreError(
            "copy attempts must be at least 1 and retry_delay not negative, got "
            f"{options.attempts} and {options.retry_delay}"
        )
    push_first = tgt_scheme.info().manifest_push_first
    cancelled = threading.Event()
    job = Job(
        src_scheme=src_scheme,
        source=source,
        tgt_scheme=tgt_scheme,
        target=target,
        options=options,
        emitter=Emitter(progress),
        cancelled=cancelled,
        retrier=Retrier(RetryPolicy(options.attempts, options.retry_delay), cancelled),
        push_first=push_first,
        recursive=bool(
            options.referrers or options.digest_tags or options.force_recursive or push_first
        ),
    )
    with tgt_scheme.gc_lock(target.bare()), tgt_scheme.batch(target.bare()):
        return _Copy(job, workers).run()


class _Copy:
    def __init__(self, job: Job, workers: int) -> None:
        self.job = job
        self.workers = workers
        self.blobs = BlobTransfer(
            job.src_scheme,
            job.source,
            job.tgt_scheme,
            job.target,
            emitter=job.emitter,
            cancelled=job.cancelled,
            retrier=job.retrier,
        )
        self.result: CopyResult | None = None

    # -- step 1: is there anything to do? -------------------------------------------------------
    def top_ref(self) -> Ref:
        """Where the top manifest goes: the target tag, else its digest, else the scheme's
        default (an ``ocidir://dir`` target gets ``latest`` from the scheme)."""
        target = self.job.target
        return target.with_tag(target.tag) if target.tag else target

    def _head(self, scheme: Scheme, ref: Ref) -> Descriptor | None:
        try:
            return scheme.manifest_head(ref)
        except NotFoundError:
            return None

    def run(self) -> CopyResult:
        result = self._run()
        result.retries = self.job.retrier.retries
        return result

    def _run(self) -> CopyResult:
        job = self.job
        retry = job.retrier.call
        src_head = retry(lambda: job.src_scheme.manifest_head(job.source), what=str(job.source))
        top_ref = self.top_ref()
        tgt_head = retry(lambda: self._head(job.tgt_scheme, top_ref), what=str(top_ref))
        if (
            tgt_head is not None
            and tgt_head.digest == src_head.digest
            and (job.options.fast or not job.recursive)
        ):
            return CopyResult(
                digest=src_head.digest,
                media_type=src_head.media_type,
                source_digest=src_head.digest,
                skipped=True,
            )
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ocistore-copy") as pool:
            scheduler = Scheduler(pool, job.cancelled, self._wrap, limit=self.workers)
            planner = Planner(job, scheduler)
            top = planner.plan(src_head)
            nodes = planner.nodes
            self._check_order(nodes)
            final = self._finalise(nodes, top)
            if job.target.digest is not None and job.target.digest != final.digest:
                raise DigestMismatchError(
                    f"cannot copy {job.source} to {job.target}: the copy's digest is {final.digest}"
                )
            self.result = CopyResult(
                digest=final.digest,
                media_type=final.media_type,
                source_digest=top.digest,
                sparse=final.digest != top.digest,
            )
            scheduler.run(self._tasks(self._needed(nodes, top), nodes))
        return self.result

    def _wrap(self, what: str, error: Exception) -> Exception:
        if isinstance(error, LoopDetectedError):
            return error
        hint = error.hint if isinstance(error, OCIStoreError) and error.hint else RESUME_HINT
        # ``what`` reads "blob <repo>@<digest>" or "manifest <repo>@<digest>" for task failures.
        failed = what.split(" ", 1)[-1]
        # The retrier's note ("gave up after 3 attempts") belongs in the one-line message.
        notes = "; ".join(getattr(error, "__notes__", ()))
        from ocistore.copy.blame import describe

        detail = describe(error, (self.job.src_scheme, self.job.tgt_scheme))
        return CopyError(
            f"copying {self.job.source} to {self.job.target} failed at {what}: {detail}"
            + (f" ({notes})" if notes else ""),
            ref=failed if "@" in failed else str(self.job.source),
            digest=failed.rsplit("@", 1)[1] if "@" in failed else None,
            hint=hint,
        )

    # -- step 2: order, loops, sparse indexes --------------------------------------------------
    def _after(self, node: Node, nodes: dict[Digest, Node]) -> list[Digest]:
        """Manifests that must be pushed after ``node``."""
        if self.job.push_first:
            later = list(node.children)
        else:
            later = [p for p in node.parents if nodes[p].manifest is not None]
        return later + node.referrers

    def _check_order(self, nodes: dict[Digest, Node]) -> None:
        """Refuse graphs with a cycle: an index containing itself, or referrers in a ring."""
        state: dict[Digest, int] = {}  # 1: on the current path, 2: finished
        for start, node in nodes.items():
            if state.get(start):
                continue
            path: list[Digest] = [start]
            stack = [iter(self._after(node, nodes))]
            state[start] = 1
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    state[path.pop()] = 2
                    stack.pop()
                    continue
                if state.get(nxt) == 1:
                    ring = [*path[path.index(nxt) :], nxt]
                    raise LoopDetectedError(
                        f"copying {self.job.source}: manifest loop detected: "
                        + " -> ".join(str(d) for d in ring)
                    )
                if not state.get(nxt) and nxt in nodes:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(self._after(nodes[nxt], nodes)))

    def _finalise(self, nodes: dict[Digest, Node], top: Node) -> Manifest:
        """Set ``final`` on every read node: itself, or its sparse rewrite."""

        def final(node: Node) -> Manifest | None:
            if node.final is not None or node.manifest is None:
                return node.final
            manifest = node.manifest
            replaced: dict[Digest, Manifest] = {}
            for child in node.children:
                new = final(nodes[child])
                if new is not None and new.digest != child:
                    replaced[child] = new
            if node.filtered or replaced:
                manifest = rewrite_index(manifest, node.kept, replaced)
            node.final = manifest
            return manifest

        for node in nodes.values():
            final(node)
        assert top.final is not None  # the top was read, never skipped
        return top.final

    def _needed(self, nodes: dict[Digest, Node], top: Node) -> list[Node]:
        """Nodes reachable from the roots; referrers of a rewritten index are left out, since
        they describe a document the target will not have."""
        roots = [top, *(n for n in nodes.values() if n.tags)]
        seen: dict[Digest, Node] = {}
        queue = deque(roots)  # breadth first: transfers start in document order
        while queue:
            node = queue.popleft()
            if node.digest in seen:
                continue
            seen[node.digest] = node
            queue.extend(nodes[c] for c in node.children)
            if node.final is not None and node.final.digest == node.digest:
                queue.extend(nodes[r] for r in node.referrers)
        return list(seen.values())

    # -- step 3: transfers ---------------------------------------------------------------------
    def _tasks(self, needed: list[Node], nodes: dict[Digest, Node]) -> list[Task[Any]]:
        push_first = self.job.push_first
        blob_users: dict[Digest, tuple[Descriptor, list[Digest]]] = {}
        tasks: list[Task[Any]] = []
        for node in needed:
            if node.is_blob:
                desc = Descriptor(node.media_type or OCTET_STREAM, node.digest, node.size or 0)
                blob_users.setdefault(node.digest, (desc, []))[1].extend(node.parents)
                continue
            if node.final is None:
                continue
            deps: set[Hashable] = {("push", s) for s in node.subjects}
            if push_first:
                deps |= {("push", p) for p in node.parents}
            else:
                deps |= {("blob" if nodes[c].is_blob else "push", c) for c in node.children}
                deps |= {("blob", b.digest) for b in node.blobs}
            for blob in node.blobs:
                blob_users.setdefault(blob.digest, (blob, []))[1].append(node.digest)
            tasks.append(self._push_task(node, frozenset(deps)))
        for desc, users in blob_users.values():
            deps = {("push", u) for u in users} if push_first else set()
            tasks.append(self._blob_task(desc, frozenset(deps)))
        return tasks

    def _blob_task(self, desc: Descriptor, deps: frozenset[Hashable]) -> Task[Any]:
        def then(outcome: tuple[BlobOutcome, int]) -> None:
            assert self.result is not None
            kind, sent = outcome
            if kind == "copied":
                self.result.blobs_copied += 1
                self.result.bytes_copied += sent
            elif kind == "mounted":
                self.result.blobs_mounted += 1
            else:
                self.result.blobs_skipped += 1

        return Task(
            key=("blob", desc.digest),
            run=lambda: self.blobs.copy(desc.digest, desc.size),
            deps=deps,
            then=then,
            what=f"blob {self.job.src_repo.with_digest(desc.digest)}",
        )

    def _push_task(self, node: Node, deps: frozenset[Hashable]) -> Task[Any]:
        def then(pushed: tuple[bool, list[str]]) -> None:
            assert self.result is not None
            any_pushed, tags = pushed
            if any_pushed:
                self.result.manifests_pushed += 1
                if node.referrer:
                    self.result.referrers_copied += 1
            else:
                self.result.manifests_skipped += 1
            self.result.tags_copied += tuple(tags)

        return Task(
            key=("push", node.digest),
            run=lambda: self._push(node),
            deps=deps,
            then=then,
            what=f"manifest {self.job.src_repo.with_digest(node.digest)}",
        )

    def _push(self, node: Node) -> tuple[bool, list[str]]:
        """Push ``node`` to each reference it belongs at, skipping those already right."""
        job, manifest = self.job, node.final
        assert manifest is not None
        targets: list[tuple[Ref, bool, str]] = []
        if node.top:
            targets.append((self.top_ref(), False, ""))
        targets += [(job.tgt_repo.with_tag(t), False, t) for t in node.tags]
        if not targets:
            targets.append((job.tgt_repo.with_digest(manifest.digest), node.child_only, ""))
        pushed, tags = False, []
        for ref, child, tag in targets:
            if job.cancelled.is_set():
                break
            # The check is part of the retried step: a push whose answer was lost may have
            # landed, and is then not sent again.
            if job.retrier.call(
                partial(self._push_one, ref, manifest, child=child), what=f"manifest {ref}"
            ):
                pushed = True
                if tag:
                    tags.append(tag)
        return pushed, tags

    def _push_one(self, ref: Ref, manifest: Manifest, *, child: bool) -> bool:
        """Push ``manifest`` to ``ref`` unless it is there already; True when it was sent."""
        job = self.job
        head = self._head(job.tgt_scheme, ref)
        if head is not None and head.digest == manifest.digest:
            job.emitter.emit("manifest", manifest.digest, ref, size=manifest.size, detail="exists")
            return False
        job.tgt_scheme.manifest_put(ref, manifest, child=child)
        job.emitter.emit(
            "manifest",
            manifest.digest,
            ref,
            size=manifest.size,
            done=manifest.size,
            detail="pushed",
        )
        return True
