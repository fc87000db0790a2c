"""Reading a legacy ``docker save`` tar (``manifest.json`` only) as Docker schema 2 images.

Such a tar has no manifest in registry form: ``manifest.json`` lists, per image, a config file
and layer tars (``<id>/layer.tar``, duplicates often symlinked). A :class:`LegacyView` builds
the v2s2 manifest of each image (compact JSON, so the same tar always gives the same digest).
Layer digests need one streaming pass over each layer, done once per version of the tar; the
uncompressed digest is checked against the config's ``rootfs.diff_ids`` on the way, so a
damaged tar fails before any byte is sent anywhere. zstd layers are refused: schema 2 has no
media type for them.

The view presents itself as an OCI ``index.json`` (one entry per image, tagged with its
``RepoTags``) plus an in-memory map from digest to manifest bytes and to tar member, so the
``dockertar`` scheme reads it with the same code as a tar that has an ``index.json``.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from ocistore import mediatype as mt
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest, Hasher
from ocistore.errors import DigestMismatchError, LayoutError, UnsupportedMediaTypeError
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore_ocidir.index import REF_NAME, Index
from ocistore_ocifile.members import GZIP_MAGIC, Archive, Member

__all__ = ["DOCKER_LAYER_TAR", "LegacyView", "repo_tags"]

#: Uncompressed Docker layer (what ``docker save`` stores).
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1024 * 1024


@dataclass
class LegacyView:
    """The images of a legacy docker-save tar, as an index plus manifests and blob members."""

    index: Index
    manifests: dict[str, bytes] = field(default_factory=dict)
    blobs: dict[str, Member] = field(default_factory=dict)

    @classmethod
    def build(cls, archive: Archive) -> LegacyView:
        what = archive.what
        try:
            entries = json.loads(archive.read_small("manifest.json", MAX_MANIFEST_SIZE))
        except ValueError as e:
            raise LayoutError(f"{what}: manifest.json is not valid JSON: {e}") from None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise LayoutError(f"{what}: manifest.json is not a list of images")
        view = cls(Index.empty())
        for entry in entries:
            view._add(archive, entry)
        return view

    def _add(self, archive: Archive, entry: dict[str, Any]) -> None:
        what = archive.what
        config_path = str(entry.get("Config") or "")
        if not config_path:
            raise LayoutError(f"{what}: a manifest.json entry has no Config")
        config_raw = archive.read_small(config_path, MAX_MANIFEST_SIZE)
        try:
            config = json.loads(config_raw)
        except ValueError as e:
            raise LayoutError(f"{what}: {config_path} is not valid JSON: {e}") from None
        if not isinstance(config, dict):
            raise LayoutError(f"{what}: {config_path} is not a JSON object")
        config_desc = Descriptor(mt.DOCKER_CONFIG, Digest.from_bytes(config_raw), len(config_raw))
        self.blobs[str(config_desc.digest)] = archive.get(config_path)
        layers = self._layers(archive, entry, config)
        manifest = Manifest.from_data(
            {
                "schemaVersion": 2,
                "mediaType": mt.DOCKER_MANIFEST,
                "config": config_desc.to_dict(),
                "layers": [d.to_dict() for d in layers],
            }
        )
        self.manifests[str(manifest.digest)] = manifest.raw
        base = {"mediaType": manifest.media_type, "digest": str(manifest.digest)}
        base["size"] = manifest.size  # type: ignore[assignment]
        tags = [str(t) for t in entry.get("RepoTags") or ()]
        if not tags:
            self.index.put(base, None)
        for tag in tags:
            self.index.put(base, tag)

    def _layers(
        self, archive: Archive, entry: dict[str, Any], config: dict[str, Any]
    ) -> list[Descriptor]:
        what = archive.what
        paths = [str(p) for p in entry.get("Layers") or ()]
        rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
        diff_ids = [str(d) for d in (rootfs or {}).get("diff_ids") or ()]
        if len(diff_ids) != len(paths):
            raise LayoutError(
                f"{what}: manifest.json lists {len(paths)} layers but the config has "
                f"{len(diff_ids)} diff_ids"
            )
        sources = entry.get("LayerSources") or {}
        out = []
        for path, expected in zip(paths, diff_ids, strict=True):
            if path not in archive and isinstance(sources, dict) and expected in sources:
                # A foreign layer (Windows base images): described, not included.
                out.append(
                    Descriptor.from_dict(sources[expected], where=f"LayerSources[{expected}]")
                )
                continue
            member = archive.get(path)
            media_type, digest, diff_id = _scan(archive, member)
            if str(diff_id) != expected:
                raise DigestMismatchError(
                    f"{what}: layer {path} unpacks to {diff_id}, but the config expects {expected}"
                )
            self.blobs[str(digest)] = member
            out.append(Descriptor(media_type, digest, member.size))
        return out


def _scan(archive: Archive, member: Member) -> tuple[str, Digest, Digest]:
    """One streaming pass: media type, digest and uncompressed digest (diff_id)."""
    blob = Hasher()
    diff = Hasher()
    with archive.open(member) as f:
        head = f.read(_CHUNK)
        if head.startswith(_ZSTD_MAGIC):
            raise UnsupportedMediaTypeError(
                f"{archive.what}: layer {member.name} is zstd-compressed, which Docker schema 2 "
                "cannot describe"
            )
        gzipped = head.startswith(GZIP_MAGIC)
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
        chunk = head
        while chunk:
            blob.update(chunk)
            if inflate is not None:
                diff.update(inflate.decompress(chunk, _CHUNK))
                while inflate.unconsumed_tail:
                    diff.update(inflate.decompress(inflate.unconsumed_tail, _CHUNK))
            chunk = f.read(_CHUNK)
        if inflate is not None:
            diff.update(inflate.flush())
    digest = blob.digest()
    diff_id = diff.digest() if gzipped else digest
    return (mt.DOCKER_LAYER_GZIP if gzipped else DOCKER_LAYER_TAR), digest, diff_id


def repo_tags(index: Index, entry_digest: str) -> list[str]:
    """The names ``manifest.json`` records for an image: its entries' ref.names."""
    out = []
    for entry in index:
        if entry.get("digest") != entry_digest:
            continue
        annotations = entry.get("annotations")
        name = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
        if isinstance(name, str) and name and name not in out:
            out.append(name)
    return out
