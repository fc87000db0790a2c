"""The client: one object that routes references to schemes and adds image-level operations.

``Client`` is the Python API and what the command line is built on. It takes reference text or
:class:`~ocistore.ref.Ref` values, finds the scheme for each through the :class:`Router`, creates
that scheme once (lazily, so ``ocidir`` work never imports an HTTP stack), and forwards the call.
On top of the scheme contract it adds what needs more than one call: platform resolution, digest
lookup, referrers of a tag, blob and image copy.

Schemes with deferred work (an OCI layout collects garbage on close) are closed for every
reference the client wrote to when the client is closed, which ``with Client() as c:`` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import IO, TYPE_CHECKING

from ocistore.digest import Digest
from ocistore.errors import NotFoundError, OCIStoreError, UnsupportedError
from ocistore.mediatype import INDEX_TYPES
from ocistore.platform import Platform
from ocistore.ref import Ref
from ocistore.router import Router
from ocistore.settings import Settings

if TYPE_CHECKING:
    import os

    from ocistore.blob import BlobReader
    from ocistore.copy.options import CopyOptions, CopyResult
    from ocistore.copy.progress import ProgressCallback, ProgressEvent
    from ocistore.descriptor import Descriptor
    from ocistore.manifest import Manifest
    from ocistore.scheme import Scheme, SchemeInfo
    from ocistore.sync import Shard, SyncConfig, SyncReport, TagResult

__all__ = ["Client", "CopyOptions", "CopyResult", "ProgressCallback", "ProgressEvent"]


def __getattr__(name: str) -> object:
    """The copy types, re-exported here, load with the first copy (not with every command)."""
    if name in ("CopyOptions", "CopyResult"):
        from ocistore.copy import options

        return getattr(options, name)
    if name in ("ProgressCallback", "ProgressEvent"):
        from ocistore.copy import progress

        return getattr(progress, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


RefLike = str | Ref
PlatformLike = Platform | str

#: How deep nested indexes are followed when resolving a platform; real images use one level.
_MAX_INDEX_DEPTH = 16


def _platform(value: PlatformLike) -> Platform:
    return value if isinstance(value, Platform) else Platform.parse(value)


class Client:
    """Routes references to schemes and exposes the scheme API plus image operations.

    :param settings: per-host and scheme options handed to every scheme factory.
    :param router: a ready router (tests, embedders); otherwise one is built from ``plugins``
        and ``autoload``, which mean what they mean for :class:`~ocistore.router.Router`.
    """

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        router: Router | None = None,
        plugins: Iterable[object | tuple[str, object]] = (),
        autoload: bool | None = None,
    ) -> None:
        extra = list(plugins)
        if router is not None and (extra or autoload is not None):
            raise TypeError("give plugins and autoload to the Router you pass, not to Client")
        self.settings: Settings = settings if settings is not None else Settings()
        self.router: Router = (
            router if router is not None else Router(plugins=extra, autoload=autoload)
        )
        self._lock = threading.Lock()
        self._schemes: dict[str, Scheme] = {}
        # Locations by (scheme, location): those written to are closed first by close() (an
        # OCI layout collects garbage), then the ones only read (a registry drops connections).
        self._written: dict[tuple[str, str], Ref] = {}
        self._used: dict[tuple[str, str], Ref] = {}

    # -- context manager ----------------------------------------------------------------------
    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- routing ------------------------------------------------------------------------------
    def parse(self, ref: RefLike) -> Ref:
        """Parse reference text with its scheme's grammar (a ``Ref`` passes through)."""
        return self.router.parse(ref)

    def scheme(self, ref: RefLike) -> Scheme:
        """The scheme serving ``ref``, created on first use and reused afterwards."""
        name = ref.scheme if isinstance(ref, Ref) else self.router.scheme_of(ref)
        with self._lock:
            found = self._schemes.get(name)
            if found is None:
                found = self._schemes[name] = self.router.spec(name).factory(self.settings)
            return found

    def _route(self, ref: RefLike) -> tuple[Scheme, Ref]:
        parsed = self.parse(ref)
        scheme = self.scheme(parsed)
        self._use(parsed)
        return scheme, parsed

    def _use(self, ref: Ref) -> None:
        with self._lock:
            self._used.setdefault((ref.scheme, ref.location), ref.bare())

    def _wrote(self, ref: Ref) -> None:
        with self._lock:
            self._written.setdefault((ref.scheme, ref.location), ref.bare())
            self._used.setdefault((ref.scheme, ref.location), ref.bare())

    def info(self, ref: RefLike) -> SchemeInfo:
        """The capabilities of the scheme serving ``ref``."""
        return self.scheme(ref).info()

    def batch(self, ref: RefLike) -> AbstractContextManager[None]:
        """Group many writes at ``ref`` (e.g. thousands of tags into one layout) so the scheme
        commits them together; see :meth:`ocistore.scheme.Scheme.batch`."""
        scheme, parsed = self._route(ref)
        self._wrote(parsed)
        return scheme.batch(parsed.bare())

    def gc_lock(self, ref: RefLike) -> AbstractContextManager[None]:
        """Hold off garbage collection at ``ref`` (by this or another process) while content is
        assembled there piece by piece, e.g. blobs pushed before the manifest that uses them."""
        scheme, parsed = self._route(ref)
        return scheme.gc_lock(parsed.bare())

    def ping(self, ref: RefLike) -> None:
        """Check that ``ref``'s location answers; raises what a real call would."""
        scheme, parsed = self._route(ref)
        scheme.ping(parsed)

    # -- blobs --------------------------------------------------------------------------------
    def blob_get(
        self, ref: RefLike, digest: Digest | str, *, size: int | None = None
    ) -> BlobReader:
        """A verifying reader over the blob (close it, or use it as a context manager)."""
        scheme, parsed = self._route(ref)
        return scheme.blob_get(parsed, Digest.parse(digest), size=size)

    def blob_head(self, ref: RefLike, digest: Digest | str) -> Descriptor:
        scheme, parsed = self._route(ref)
        return scheme.blob_head(parsed, Digest.parse(digest))

    def blob_put(
        self,
        ref: RefLike,
        reader: IO[bytes] | BlobReader,
        *,
        digest: Digest | str | None = None,
        length: int | None = None,
    ) -> tuple[Digest, int]:
        """Store a blob streamed from ``reader``; ``digest``/``length`` are verified if given.

        ``reader`` may be another location's :class:`~ocistore.blob.BlobReader`, which is
        file-like enough for every scheme (it only needs ``read``).
        """
        scheme, parsed = self._route(ref)
        expected = Digest.parse(digest) if digest is not None else None
        self._wrote(parsed)
        return scheme.blob_put(parsed, expected, reader, length)

    def blob_mount(self, source: RefLike, target: RefLike, digest: Digest | str) -> None:
        """Link a blob from ``source`` into ``target`` (same scheme) without sending it."""
        src, tgt = self.parse(source), self.parse(target)
        if src.scheme != tgt.scheme:
            raise UnsupportedError(
                f"cannot mount a blob from {src.scheme} into {tgt.scheme}: "
                "mounts work within one scheme",
                hint="use blob copy instead",
            )
        self._use(src)
        self._wrote(tgt)
        self.scheme(tgt).blob_mount(src, tgt, Digest.parse(digest))

    def blob_delete(self, ref: RefLike, digest: Digest | str) -> None:
        scheme, parsed = self._route(ref)
        scheme.blob_delete(parsed, Digest.parse(digest))

    def blob_copy(
        self, source: RefLike, target: RefLike, digest: Digest | str, *, size: int | None = None
    ) -> None:
        """Copy one blob between any two references: skipped if present, mounted if possible."""
        from ocistore.copy.blobs import BlobTransfer

        src, tgt = self.parse(source), self.parse(target)
        self._use(src)
        self._wrote(tgt)
        transfer = BlobTransfer(self.scheme(src), src, self.scheme(tgt), tgt)
        transfer.copy(Digest.parse(digest), size)

    # -- manifests ----------------------------------------------------------------------------
    def _descend(self, scheme: Scheme, ref: Ref, platform: Platform, depth: int = 0) -> Manifest:
        """Follow (nested) indexes from ``ref`` to the image for ``platform``.

        An entry without a platform that is itself an index is searched too: that is how
        indexes of indexes are usually written.
        """
        manifest = scheme.manifest_get(ref)
        if not manifest.is_index:
            return manifest
        if depth >= _MAX_INDEX_DEPTH:
            raise OCIStoreError(f"{ref}: indexes nested more than {_MAX_INDEX_DEPTH} deep")
        try:
            entry = manifest.find_platform(platform)
        except NotFoundError as missing:
            for nested in manifest.manifests:
                if nested.platform is None and nested.media_type in INDEX_TYPES:
                    try:
                        return self._descend(
                            scheme, ref.with_digest(nested.digest), platform, depth + 1
                        )
                    except NotFoundError:
                        continue
            raise missing
        return self._descend(scheme, ref.with_digest(entry.digest), platform, depth + 1)

    def manifest_get(self, ref: RefLike, *, platform: PlatformLike | None = None) -> Manifest:
        """The manifest at ``ref``; with ``platform``, the image an index holds for it."""
        scheme, parsed = self._route(ref)
        if platform is None:
            return scheme.manifest_get(parsed)
        return self._descend(scheme, parsed, _platform(platform))

    def manifest_head(self, ref: RefLike, *, platform: PlatformLike | None = None) -> Descriptor:
        """Media type, digest and size at ``ref`` (of the platform's image, if one is given)."""
        scheme, parsed = self._route(ref)
        head = scheme.manifest_head(parsed)
        if platform is None or head.media_type not in INDEX_TYPES:
            return head
        return self._descend(
            scheme, parsed.with_digest(head.digest), _platform(platform)
        ).descriptor()

    def manifest_put(self, ref: RefLike, manifest: Manifest, *, child: bool = False) -> None:
        """Store ``manifest`` at ``ref``'s tag or digest (``child``: no tag of its own)."""
        scheme, parsed = self._route(ref)
        self._wrote(parsed)
        scheme.manifest_put(parsed, manifest, child=child)

    def manifest_delete(self, ref: RefLike) -> None:
        """Delete the manifest at ``ref``'s digest (every tag on it goes too)."""
        scheme, parsed = self._route(ref)
        self._wrote(parsed)
        scheme.manifest_delete(parsed)

    # -- tags, repositories, referrers --------------------------------------------------------
    def tag_list(
        self, ref: RefLike, *, limit: int | None = None, last: str | None = None
    ) -> list[str]:
        scheme, parsed = self._route(ref)
        return scheme.tag_list(parsed, limit=limit, last=last)

    def tag_delete(self, ref: RefLike) -> None:
        scheme, parsed = self._route(ref)
        self._wrote(parsed)
        scheme.tag_delete(parsed)

    def repo_list(
        self, ref: RefLike, *, limit: int | None = None, last: str | None = None
    ) -> list[str]:
        scheme, parsed = self._route(ref)
        return scheme.repo_list(parsed, limit=limit, last=last)

    def referrers(
        self,
        ref: RefLike,
        *,
        artifact_type: str | None = None,
        digest: Digest | str | None = None,
    ) -> list[Descriptor]:
        """Manifests whose subject is ``digest`` (default: the digest ``ref`` resolves to)."""
        scheme, parsed = self._route(ref)
        if digest is not None:
            subject = Digest.parse(digest)
        elif parsed.digest is not None:
            subject = parsed.digest
        else:
            subject = scheme.manifest_head(parsed).digest
        return scheme.referrers(parsed, subject, artifact_type=artifact_type)

    # -- images -------------------------------------------------------------------------------
    def image_digest(self, ref: RefLike, *, platform: PlatformLike | None = None) -> Digest:
        """The digest ``ref`` points at (of the platform's image when one is given)."""
        return self.manifest_head(ref, platform=platform).digest

    def image_copy(
        self,
        source: RefLike,
        target: RefLike,
        *,
        options: CopyOptions | None = None,
        progress: ProgressCallback | None = None,
    ) -> CopyResult:
        """Copy an image, index or artifact from ``source`` to ``target`` (any two schemes).

        See :class:`~ocistore.copy.CopyOptions`; failures raise
        :class:`~ocistore.errors.CopyError` naming the piece that failed, and running the same
        copy again resumes it.
        """
        from ocistore.copy.engine import copy_image
        from ocistore.copy.options import CopyOptions

        src, tgt = self.parse(source), self.parse(target)
        self._use(src)
        self._wrote(tgt)
        return copy_image(
            self.scheme(src),
            src,
            self.scheme(tgt),
            tgt,
            options=options or CopyOptions(),
            progress=progress,
            concurrency=self.settings.concurrency,
        )

    # -- mirroring ----------------------------------------------------------------------------
    def sync(
        self,
        config: SyncConfig | str | os.PathLike[str],
        *,
        check: bool = False,
        shard: Shard | str | None = None,
        progress: Callable[[str, TagResult], None] | None = None,
    ) -> SyncReport:
        """Mirror every entry of a sync config (a :class:`~ocistore.sync.SyncConfig` or the
        path of its TOML file); ``check`` only reports what is out of date.

        The run uses this client's settings and plugins, with the config's ``[hosts]`` laid
        over them, through a client of its own whose per-host request limits every copy of
        the run shares. Failures of single entries are in the report, not raised; see
        :class:`ocistore.sync.Sync` for the long-lived form (``sync serve``).
        """
        from ocistore.sync.config import SyncConfig as _Config
        from ocistore.sync.config import load_config
        from ocistore.sync.engine import Sync
        from ocistore.sync.shard import Shard as _Shard

        loaded = config if isinstance(config, _Config) else load_config(config)
        part = _Shard.parse(shard) if isinstance(shard, str) else shard
        with Sync(
            loaded, settings=self.settings, router=self.router, shard=part, progress=progress
        ) as run:
            return run.run(check=check)

    # -- closing ------------------------------------------------------------------------------
    def close(self, ref: RefLike | None = None) -> None:
        """Finish deferred work: ``scheme.close`` for ``ref``, or for every location used.

        Without ``ref``, locations written to are closed first (an OCI layout collects its
        garbage), then those only read (a registry lets go of its connections), and the client
        drops its scheme instances; it can still be used afterwards and creates them again.
        Every location is closed even when one fails; the first failure is raised.
        """
        if ref is not None:
            parsed = self.parse(ref)
            key = (parsed.scheme, parsed.location)
            with self._lock:
                self._written.pop(key, None)
                self._used.pop(key, None)
            self.scheme(parsed).close(parsed)
            return
        with self._lock:
            pending = list(self._written.values())
            pending += [r for k, r in self._used.items() if k not in self._written]
            self._written.clear()
            self._used.clear()
        errors: list[Exception] = []
        for location in pending:
            try:
                self.scheme(location).close(location)
            except Exception as e:  # close every location even when one fails
                errors.append(e)
        with self._lock:
            self._schemes.clear()
        if errors:
            first = errors[0]
            for other in errors[1:]:
                first.add_note(f"also failed while closing: {type(other).__name__}: {other}")
            raise first
