"""The scheme contract: what a storage backend implements.

A scheme is registered as a :class:`SchemeSpec` (name, reference parser, factory). The factory
builds a :class:`Scheme` only when a reference of that scheme is first used, so a plugin's heavy
imports (an HTTP stack, say) cost nothing until then.

The method set mirrors regclient's scheme package: nouns first (``blob_*``, ``manifest_*``,
``tag_*``), keyword arguments where Go used option functions. Optional abilities are declared in
:class:`SchemeInfo` so callers negotiate instead of guessing; :class:`SchemeBase` gives five
working defaults and answers every other method it is not given with a clear
:class:`~ocistore.errors.UnsupportedError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ocistore.errors import InvalidOptionError, UnsupportedError

if TYPE_CHECKING:
    from ocistore.blob import BlobReader, RawStream
    from ocistore.descriptor import Descriptor
    from ocistore.digest import Digest
    from ocistore.manifest import Manifest
    from ocistore.ref import Ref
    from ocistore.settings import Settings

__all__ = ["Scheme", "SchemeBase", "SchemeFactory", "SchemeInfo", "SchemeSpec", "page_names"]


@dataclass(frozen=True)
class SchemeInfo:
    """Capabilities a scheme declares.

    * ``manifest_push_first``: the target accepts (and prefers) a parent before its children;
      copy then always recurses, since a present parent says nothing about its children.
    * ``blob_mount``: ``blob_mount`` can link a blob from another repository of the same scheme.
    * ``referrers_api``: ``referrers`` answers by itself and ``manifest_put`` of a manifest
      with a ``subject`` keeps that answer up to date, so a caller never reads or writes the
      referrers fallback tag (``<alg>-<hex>``) itself. How is the scheme's business: a
      server's referrers API, a scan of what is stored, or the fallback tag kept by the scheme.
      The flag describes the scheme, not one server: ``reg`` says True and uses the
      distribution-spec API where a registry has it, the fallback tag where it does not
      (distribution 2.8), deciding per repository at run time. False: the scheme may not
      implement ``referrers`` at all (``UnsupportedError``).
    * ``tag_delete``, ``blob_delete``: these operations exist.
    * ``repo_list``: repositories can be listed.
    * ``gc``: unreferenced content is collected on ``close``, so copies should hold ``gc_lock``.
    * ``multi_process``: several processes (each with its own scheme object) may read and write
      one location at once, as two ``ocistore`` commands would; the conformance kit then races
      two processes. False promises only thread safety within one process.
    """

    manifest_push_first: bool = False
    blob_mount: bool = False
    referrers_api: bool = False
    tag_delete: bool = False
    blob_delete: bool = False
    repo_list: bool = False
    gc: bool = False
    multi_process: bool = False


@runtime_checkable
class Scheme(Protocol):
    """A storage backend. Every method takes the :class:`~ocistore.ref.Ref` it acts on.

    One instance serves a whole client, and the copy engine calls it from several threads at
    once: implementations must be thread-safe.
    """

    def info(self) -> SchemeInfo: ...

    def ping(self, ref: Ref) -> None:
        """Check that the location answers; raise the error a real call would raise."""

    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        """A verifying reader over the blob; ``size`` (from a descriptor) is checked too."""

    def blob_head(self, ref: Ref, digest: Digest) -> Descriptor:
        """Descriptor (digest, size) of a blob that exists; ``BlobNotFoundError`` otherwise."""

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        """Store a blob streamed from ``reader``; verify against ``digest``/``length`` if given.

        ``reader`` promises only ``read(n)`` (a :class:`~ocistore.blob.BlobReader` from a copy,
        a file, a pipe). A scheme that wants to rewind for a retry checks ``seekable()`` first
        (through ``getattr``): a copy's reader is never seekable, so the copy fetches again.
        """

    def blob_mount(self, source: Ref, target: Ref, digest: Digest) -> None:
        """Make the blob at ``source`` available at ``target`` without sending its bytes.

        Raises :class:`~ocistore.errors.MountRefusedError` when the backend declines, so the
        caller sends the bytes instead.
        """

    def blob_delete(self, ref: Ref, digest: Digest) -> None: ...

    def manifest_get(self, ref: Ref) -> Manifest:
        """The manifest at ``ref`` (digest wins over tag), verified against the digest."""

    def manifest_head(self, ref: Ref) -> Descriptor:
        """Media type, digest and size of the manifest at ``ref``, without its body.

        The digest is always set: a backend that cannot tell it cheaply fetches the body.
        """

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        """Store ``manifest`` at the tag or digest of ``ref``.

        ``child``: the manifest is reachable through a parent index and needs no tag of its own.
        """

    def manifest_delete(self, ref: Ref) -> None:
        """Delete the manifest at ``ref.digest`` (and with it every tag pointing at it)."""

    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        """Tags of the repository, sorted, after ``last`` if given, at most ``limit``."""

    def tag_delete(self, ref: Ref) -> None:
        """Remove ``ref.tag`` without deleting the manifest it points at."""

    def referrers(
        self, ref: Ref, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Manifests whose ``subject`` is ``digest``, filtered by ``artifact_type``."""

    def repo_list(
        self, ref: Ref, *, limit: int | None = None, last: str | None = None
    ) -> list[str]: ...

    def gc_lock(self, ref: Ref) -> contextlib.AbstractContextManager[None]:
        """Hold off garbage collection at ``ref`` while content is being assembled there."""

    def batch(self, ref: Ref) -> contextlib.AbstractContextManager[None]:
        """Group the writes made at ``ref`` inside the block so the scheme can commit them
        together (an OCI layout writes index.json once instead of once per tag). A batch is not
        a transaction: what was done inside is kept even if the block raises."""

    def close(self, ref: Ref) -> None:
        """Finish work at ``ref`` (an OCI layout collects garbage here)."""


class SchemeBase:
    """Optional base class for a scheme.

    Five methods work as they are: ``info()`` declares no optional ability, ``ping()`` and
    ``close()`` do nothing, ``gc_lock()`` and ``batch()`` are null context managers. Every
    other operation raises ``UnsupportedError`` naming the scheme (:attr:`name`) and the
    operation until a subclass overrides it. The rules an override keeps are in
    CONTRIBUTING.md ("Writing a scheme plugin") and in :mod:`ocistore.testing.conformance`.
    """

    #: The scheme's name, used in error messages.
    name: str = "scheme"

    def info(self) -> SchemeInfo:
        return SchemeInfo()

    def _unsupported(self, op: str) -> UnsupportedError:
        return UnsupportedError(f"the {self.name} scheme does not support {op}")

    def ping(self, ref: Ref) -> None:
        return None

    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        raise self._unsupported("blob_get")

    def blob_head(self, ref: Ref, digest: Digest) -> Descriptor:
        raise self._unsupported("blob_head")

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        raise self._unsupported("blob_put")

    def blob_mount(self, source: Ref, target: Ref, digest: Digest) -> None:
        raise self._unsupported("blob_mount")

    def blob_delete(self, ref: Ref, digest: Digest) -> None:
        raise self._unsupported("blob_delete")

    def manifest_get(self, ref: Ref) -> Manifest:
        raise self._unsupported("manifest_get")

    def manifest_head(self, ref: Ref) -> Descriptor:
        raise self._unsupported("manifest_head")

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        raise self._unsupported("manifest_put")

    def manifest_delete(self, ref: Ref) -> None:
        raise self._unsupported("manifest_delete")

    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        raise self._unsupported("tag_list")

    def tag_delete(self, ref: Ref) -> None:
        raise self._unsupported("tag_delete")

    def referrers(
        self, ref: Ref, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        raise self._unsupported("referrers")

    def repo_list(
        self, ref: Ref, *, limit: int | None = None, last: str | None = None
    ) -> list[str]:
        raise self._unsupported("repo_list")

    def gc_lock(self, ref: Ref) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def batch(self, ref: Ref) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def close(self, ref: Ref) -> None:
        return None


SchemeFactory = Callable[["Settings"], Scheme]


def page_names(names: Iterable[str], *, limit: int | None, last: str | None) -> list[str]:
    """One page of a listing as the contract wants it (``tag_list``, ``repo_list``): sorted by
    code point, only names after ``last``, at most ``limit``. A negative ``limit`` is an
    :class:`~ocistore.errors.InvalidOptionError`."""
    if limit is not None and limit < 0:
        raise InvalidOptionError(f"limit must be 0 or more, not {limit}")
    ordered = sorted(names)
    if last:
        ordered = [n for n in ordered if n > last]
    return ordered[:limit] if limit is not None else ordered


@dataclass(frozen=True)
class SchemeSpec:
    """A scheme as registered: parsing is separate from the factory so that it stays cheap."""

    name: str
    parse: Callable[[str], Ref]
    factory: SchemeFactory
    description: str = ""
    #: Filled in by the registry: the plugin (entry point) that registered it.
    plugin: str = ""
