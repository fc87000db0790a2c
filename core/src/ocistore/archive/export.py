"""Export an image (or index, or artifact) from any scheme as an OCI image layout tar.

The tar is written as a stream (``tarfile`` ``w|``), so it can go straight to stdout: every blob's
size is known from its descriptor, and each blob flows from the scheme's verifying reader into the
archive without being held in memory. ``index.json`` is written before the blobs so that a reader
of the stream learns what it holds first. The manifests keep their exact bytes, so the digest in
the archive is the digest at the source.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from ocistore import mediatype as mt
from ocistore.errors import LoopDetectedError

if TYPE_CHECKING:
    from ocistore.client import Client
    from ocistore.descriptor import Descriptor
    from ocistore.digest import Digest
    from ocistore.manifest import Manifest
    from ocistore.platform import Platform
    from ocistore.ref import Ref

__all__ = ["REF_NAME", "ExportResult", "export_oci"]

#: The OCI layout annotation that carries a tag.
REF_NAME = "org.opencontainers.image.ref.name"
#: containerd's (and ``docker load``'s) full image name annotation.
CONTAINERD_NAME = "io.containerd.image.name"
_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class ExportResult:
    """What went into the archive."""

    digest: Digest
    media_type: str
    manifests: int
    blobs: int
    bytes: int


class _Collector:
    """Walks an image tree: manifests (exact bytes) and the blobs they need, each once."""

    def __init__(self, client: Client, ref: Ref, *, include_external: bool) -> None:
        self.client = client
        self.ref = ref
        self.include_external = include_external
        self.manifests: dict[Digest, Manifest] = {}
        self.blobs: dict[Digest, Descriptor] = {}

    def walk(self, manifest: Manifest, path: tuple[Digest, ...] = ()) -> None:
        if manifest.digest in path:
            raise LoopDetectedError(
                f"index {manifest.digest} in {self.ref.location} contains itself"
            )
        if manifest.digest in self.manifests:
            return
        self.manifests[manifest.digest] = manifest
        if manifest.is_index:
            for desc in manifest.manifests:
                child = self.client.manifest_get(self.ref.with_digest(desc.digest))
                self.walk(child, (*path, manifest.digest))
            return
        for desc in manifest.children():
            if desc.urls and not self.include_external:
                continue  # a foreign layer: the layout may omit it, as the registry does
            self.blobs.setdefault(desc.digest, desc)


def _info(name: str, size: int, *, directory: bool = False) -> tarfile.TarInfo:
    """A reproducible entry: fixed mtime, owner and mode, so equal content gives equal tars."""
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_info(name, len(data)), io.BytesIO(data))


def _blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.encoded}"


def export_oci(
    client: Client,
    ref: Ref | str,
    out: IO[bytes],
    *,
    platform: Platform | None = None,
    tag: str | None = None,
    include_external: bool = False,
) -> ExportResult:
    """Write the content at ``ref`` to ``out`` as an OCI layout tar.

    :param platform: export only this platform's image of a multi-platform index.
    :param tag: the ``org.opencontainers.image.ref.name`` to record (default: the ref's tag).
    :param include_external: also fetch layers that have ``urls`` (foreign layers).
    """
    src = client.parse(ref)
    top = client.manifest_get(src, platform=platform)
    walker = _Collector(client, src, include_external=include_external)
    walker.walk(top)
    annotations: dict[str, str] = {}
    name = tag or src.tag
    if name:
        annotations[REF_NAME] = name
    if src.registry and src.tag:
        annotations[CONTAINERD_NAME] = str(src.bare().with_tag(src.tag))
    entry = top.descriptor(annotations=annotations) if annotations else top.descriptor()
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [entry.to_dict()],
    }
    total = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "oci-layout", _LAYOUT)
        _add_bytes(tar, "index.json", json.dumps(index, separators=(",", ":")).encode())
        tar.addfile(_info("blobs", 0, directory=True))
        algorithms = sorted({d.algorithm for d in [*walker.manifests, *walker.blobs]})
        for alg in algorithms:
            tar.addfile(_info(f"blobs/{alg}", 0, directory=True))
        for digest, manifest in walker.manifests.items():
            _add_bytes(tar, _blob_path(digest), manifest.raw)
            total += manifest.size
        for digest, desc in walker.blobs.items():
            if digest in walker.manifests:
                continue
            with client.blob_get(src, digest, size=desc.size) as reader:
                tar.addfile(_info(_blob_path(digest), desc.size), reader)
                reader.verify_to_end()
            total += desc.size
    blob_count = len([d for d in walker.blobs if d not in walker.manifests])
    return ExportResult(top.digest, top.media_type, len(walker.manifests), blob_count, total)
