"""Import a ``docker save`` tar as a Docker schema2 image.

A docker-save tar has no manifest in registry form: ``manifest.json`` lists, per image, a config
file and layer tars (``<id>/layer.tar``, or ``blobs/sha256/<hex>`` in newer versions), with
duplicate layers stored as symlinks. We build the v2s2 manifest ourselves. Layer digests are
computed by streaming each layer once before anything is sent (nothing is held in memory), and the
uncompressed digest is checked against the config's ``rootfs.diff_ids``, so a damaged tar fails
before the first byte reaches the target. Then each layer is streamed again, verified, to the
target, skipping layers it already has.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocistore import mediatype as mt
from ocistore.archive.result import ImportResult, Tally
from ocistore.blob import CHUNK_SIZE, BlobReader
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest, Hasher
from ocistore.errors import (
    DigestMismatchError,
    LayoutError,
    NotFoundError,
    UnsupportedMediaTypeError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest

if TYPE_CHECKING:
    from ocistore.archive.tarutil import TarMembers
    from ocistore.client import Client
    from ocistore.ref import Ref

__all__ = ["DOCKER_LAYER_TAR", "import_docker"]

#: Uncompressed Docker layer (what ``docker save`` stores).
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class _Layer:
    path: str
    descriptor: Descriptor
    external: bool = False


def _select(entries: list[dict[str, Any]], name: str | None, tag: str, what: str) -> dict[str, Any]:
    def tags(e: dict[str, Any]) -> list[str]:
        return [str(t) for t in e.get("RepoTags") or ()]

    def hit(value: str, wanted: str) -> bool:
        return value == wanted or value.endswith(f":{wanted}")

    listing = ", ".join(", ".join(tags(e)) or str(e.get("Config")) for e in entries)
    if not entries:
        raise LayoutError(f"{what}: manifest.json lists no images")
    if name:
        for e in entries:
            if any(hit(t, name) for t in tags(e)):
                return e
        raise NotFoundError(f"{what}: no image named {name!r} (has: {listing})")
    if len(entries) == 1:
        return entries[0]
    if tag:
        found = [e for e in entries if any(hit(t, tag) for t in tags(e))]
        if len(found) == 1:
            return found[0]
    raise LayoutError(
        f"{what}: holds {len(entries)} images ({listing}); which one?",
        hint="choose with --name NAME (one of the repository tags listed)",
    )


def _scan_layer(members: TarMembers, path: str) -> tuple[str, Digest, int, Digest]:
    """One streaming pass: media type, digest, size and uncompressed digest (diff_id)."""
    blob = Hasher()
    diff = Hasher()
    with members.open(path) as f:
        head = f.read(CHUNK_SIZE)
        if head.startswith(_ZSTD_MAGIC):
            raise UnsupportedMediaTypeError(
                f"{members.what}: layer {path} is zstd-compressed, which Docker schema2 cannot "
                "describe"
            )
        gzipped = head.startswith(_GZIP_MAGIC)
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
        chunk = head
        while chunk:
            blob.update(chunk)
            if inflate is not None:
                diff.update(inflate.decompress(chunk))
            chunk = f.read(CHUNK_SIZE)
        if inflate is not None:
            diff.update(inflate.flush())
    digest = blob.digest()
    diff_id = diff.digest() if gzipped else digest
    return (mt.DOCKER_LAYER_GZIP if gzipped else DOCKER_LAYER_TAR), digest, blob.size, diff_id


def _layers(members: TarMembers, entry: dict[str, Any], config: dict[str, Any]) -> list[_Layer]:
    what = members.what
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
        if path not in members and expected in sources:
            # A foreign layer (Windows base images): described, not included.
            desc = Descriptor.from_dict(sources[expected], where=f"LayerSources[{expected}]")
            out.append(_Layer(path, desc, external=True))
            continue
        media_type, digest, size, diff_id = _scan_layer(members, path)
        if str(diff_id) != expected:
            raise DigestMismatchError(
                f"{what}: layer {path} unpacks to {diff_id}, but the config expects {expected}"
            )
        out.append(_Layer(path, Descriptor(media_type, digest, size)))
    return out


def _push_blob(
    client: Client, target: Ref, members: TarMembers, *, path: str, desc: Descriptor, tally: Tally
) -> None:
    try:
        client.blob_head(target, desc.digest)
    except NotFoundError:
        pass
    else:
        tally.blobs_skipped += 1
        return
    with BlobReader(
        members.open(path),
        digest=desc.digest,
        size=desc.size,
        name=f"{path} in {members.what}",
    ) as reader:
        client.blob_put(target, reader, digest=desc.digest, length=desc.size)
    tally.blobs_pushed += 1
    tally.bytes += desc.size


def import_docker(
    client: Client, target: Ref, members: TarMembers, *, name: str | None = None
) -> ImportResult:
    """Build and push a Docker schema2 image from a docker-save archive."""
    what = members.what
    entries = json.loads(members.read_small("manifest.json", MAX_MANIFEST_SIZE))
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise LayoutError(f"{what}: manifest.json is not a list of images")
    entry = _select(entries, name, target.tag, what)
    config_path = str(entry.get("Config") or "")
    if not config_path:
        raise LayoutError(f"{what}: manifest.json entry has no Config")
    config_raw = members.read_small(config_path, MAX_MANIFEST_SIZE)
    try:
        config = json.loads(config_raw)
    except ValueError as e:
        raise LayoutError(f"{what}: {config_path} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise LayoutError(f"{what}: {config_path} is not a JSON object")
    layers = _layers(members, entry, config)
    config_desc = Descriptor(mt.DOCKER_CONFIG, Digest.from_bytes(config_raw), len(config_raw))
    tally = Tally()
    _push_blob(client, target, members, path=config_path, desc=config_desc, tally=tally)
    pushed: set[Digest] = set()
    for layer in layers:
        if layer.external or layer.descriptor.digest in pushed:
            continue
        pushed.add(layer.descriptor.digest)
        _push_blob(client, target, members, path=layer.path, desc=layer.descriptor, tally=tally)
    manifest = Manifest.from_data(
        {
            "schemaVersion": 2,
            "mediaType": mt.DOCKER_MANIFEST,
            "config": config_desc.to_dict(),
            "layers": [layer.descriptor.to_dict() for layer in layers],
        }
    )
    client.manifest_put(target, manifest)
    tally.manifests += 1
    return ImportResult(
        manifest.digest,
        manifest.media_type,
        "docker",
        tally.manifests,
        tally.blobs_pushed,
        tally.blobs_skipped,
        tally.bytes,
    )
