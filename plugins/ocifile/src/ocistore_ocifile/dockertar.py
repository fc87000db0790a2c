"""The ``dockertar`` scheme: docker-save tars (``dockertar://path.tar[:tag][@digest]``).

Two kinds of docker-save tar exist, and both are read:

* **legacy** (Docker before 25, ``skopeo copy docker-archive:``): only ``manifest.json``. The
  v2s2 manifests are built from it (:mod:`ocistore_ocifile.dockersave`); tags are the
  ``RepoTags`` (``example.com/app:1.0`` answers to tag ``1.0``, as in an OCI layout).
* **with an OCI layout** (Docker 25+, and what this scheme writes): ``manifest.json`` plus
  ``oci-layout``, ``index.json`` and ``blobs/``. Read through the index, so manifests keep
  their exact bytes and digests.

Writing produces the second kind: everything the ``ocifile`` scheme writes, plus a
``manifest.json`` regenerated from ``index.json`` when the tar is committed, so ``docker load``
and ``skopeo copy docker-archive:`` read it while a copy back to a registry keeps every digest.
``RepoTags`` are the tags as given (``dockertar://app.tar:1.0`` records ``1.0``).

What docker-save cannot hold is refused with :class:`~ocistore.errors.UnsupportedMediaTypeError`
before anything is written for it: OCI manifests, indexes and manifest lists (copy one platform
with ``--platform``, or use ``ocifile://``), artifacts (a config other than a Docker image
config), and foreign layers (with ``urls``). Adding to a legacy tar is refused too: it has no
``index.json`` to keep digests in.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from ocistore import mediatype as mt
from ocistore.errors import LayoutError, UnsupportedError, UnsupportedMediaTypeError
from ocistore.manifest import Manifest
from ocistore_ocidir.index import Index
from ocistore_ocifile.common import blob_name, translate_oserrors
from ocistore_ocifile.dockersave import LegacyView, repo_tags
from ocistore_ocifile.ocitar import OCIFile

if TYPE_CHECKING:
    from ocistore.digest import Digest
    from ocistore.ref import Ref
    from ocistore.settings import Settings
    from ocistore_ocifile.members import Archive, Member
    from ocistore_ocifile.store import Session, TarFile

__all__ = ["DockerTar"]


class DockerTar(OCIFile):
    """docker-save tars; see the module docstring for what is read, written and refused."""

    name = "dockertar"

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self._legacy: dict[int, tuple[object, LegacyView]] = {}
        self._legacy_mutex = threading.Lock()

    def _what(self, tf: TarFile) -> str:
        return f"docker-save tar {tf.path}"

    def _view(self, tf: TarFile) -> LegacyView | None:
        """The built view of a legacy tar (``None`` for a tar with an OCI layout, or none)."""
        with tf.lock:
            if tf.session is not None:
                return None
        archive = tf.archive()
        if archive is None or ("oci-layout" in archive and "index.json" in archive):
            return None
        if "manifest.json" not in archive:
            raise LayoutError(f"{tf.path} is not a docker-save tar (no manifest.json)")
        with self._legacy_mutex:
            cached = self._legacy.get(id(tf))
            if cached is not None and cached[0] is archive:
                return cached[1]
        view = LegacyView.build(archive)
        with self._legacy_mutex:
            self._legacy[id(tf)] = (archive, view)
        return view

    def _committed(self, tf: TarFile) -> Index | None:
        view = self._view(tf)
        if view is not None:
            return view.index
        return super()._committed(tf)

    def _blob(self, tf: TarFile, digest: Digest) -> tuple[Archive, Member] | None:
        view = self._view(tf)
        if view is None:
            return super()._blob(tf, digest)
        member = view.blobs.get(str(digest))
        archive = tf.archive()
        return (archive, member) if member is not None and archive is not None else None

    def _raw(self, tf: TarFile, digest: Digest) -> bytes | None:
        view = self._view(tf)
        if view is None:
            return super()._raw(tf, digest)
        return view.manifests.get(str(digest))

    # -- writing --------------------------------------------------------------------------------
    def _session(self, tf: TarFile) -> Session:
        if tf.session is None and self._view(tf) is not None:
            raise UnsupportedError(
                f"{tf.path} is a legacy docker-save tar (no index.json): ocistore does not add "
                "to it, since it could not keep the digests of what is there",
                hint="write a new tar, or copy its images into one first",
            )
        return super()._session(tf)

    @translate_oserrors("manifest put")
    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        """Docker v2 schema 2 images only; everything else is refused, naming what it is."""
        if manifest.media_type != mt.DOCKER_MANIFEST:
            raise UnsupportedMediaTypeError(
                f"{ref}: a docker-save tar holds Docker v2 schema 2 images only, not "
                f"{manifest.media_type}",
                hint="copy one platform of an index with --platform, or write an OCI layout "
                "tar (ocifile://) instead",
            )
        config = manifest.config
        if config is None or config.media_type != mt.DOCKER_CONFIG:
            raise UnsupportedMediaTypeError(
                f"{ref}: a docker-save tar holds container images only, and this manifest's "
                f"config is {config.media_type if config else 'missing'}",
                hint="write artifacts to an OCI layout tar (ocifile://)",
            )
        foreign = [d for d in manifest.layers if d.urls]
        if foreign:
            raise UnsupportedMediaTypeError(
                f"{ref}: layer {foreign[0].digest} is a foreign layer (it has urls), which this "
                "scheme does not write to docker-save tars"
            )
        super().manifest_put(ref, manifest, child=child)

    def _commit(self, tf: TarFile) -> None:
        with tf.lock:
            if tf.session is None:
                return
            index = tf.state
            assert isinstance(index, Index)
            final = {
                "index.json": index.to_bytes(),
                "manifest.json": self._manifest_json(tf, index),
            }
            tf.finish(final, keep=lambda name: name not in ("oci-layout", "repositories"))

    def _manifest_json(self, tf: TarFile, index: Index) -> bytes:
        """``manifest.json``: one entry per image of index.json, its tags as RepoTags."""
        images = []
        seen: set[str] = set()
        for entry in index:
            digest = str(entry.get("digest"))
            if digest in seen or entry.get("mediaType") != mt.DOCKER_MANIFEST:
                continue
            seen.add(digest)
            raw = super()._raw(tf, index.descriptor(entry).digest)
            if raw is None:
                continue
            manifest = Manifest.from_bytes(raw, media_type=mt.DOCKER_MANIFEST)
            assert manifest.config is not None
            images.append(
                {
                    "Config": blob_name(manifest.config.digest),
                    "RepoTags": repo_tags(index, digest),
                    "Layers": [blob_name(d.digest) for d in manifest.layers],
                }
            )
        return json.dumps(images, separators=(",", ":")).encode()
