"""Build small, valid test content: blobs, images, indexes and artifacts of every manifest type.

Used by the conformance kit and by any test that needs real-looking images without a network.
Everything is deterministic for a given ``seed`` so that digests are stable inside one test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocistore import mediatype as mt
from ocistore.descriptor import EMPTY_DESCRIPTOR, Descriptor
from ocistore.digest import Digest
from ocistore.manifest import Manifest
from ocistore.platform import Platform

if TYPE_CHECKING:
    from ocistore.ref import Ref
    from ocistore.scheme import Scheme

__all__ = [
    "Image",
    "artifact",
    "docker_image",
    "docker_list",
    "index_of",
    "layer_tar",
    "oci_image",
    "push",
    "random_bytes",
]


def random_bytes(size: int, seed: int | str = 0) -> bytes:
    """Deterministic pseudo-random bytes (incompressible, unlike a repeated pattern)."""
    out = bytearray()
    counter = 0
    key = str(seed).encode()
    while len(out) < size:
        out += hashlib.sha512(key + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def layer_tar(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """A gzip tar layer of ``files``: returns (compressed, uncompressed) for diff_ids."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0), raw


@dataclass
class Image:
    """A manifest plus the blobs and child manifests it needs, ready to push."""

    manifest: Manifest
    blobs: dict[Digest, bytes] = field(default_factory=dict)
    children: list[Image] = field(default_factory=list)

    @property
    def digest(self) -> Digest:
        return self.manifest.digest

    def all_blobs(self) -> dict[Digest, bytes]:
        out = dict(self.blobs)
        for child in self.children:
            out.update(child.all_blobs())
        return out


def _image(
    manifest_type: str,
    config_type: str,
    layer_type: str,
    *,
    seed: int | str,
    platform: Platform,
    layers: int,
    annotations: dict[str, str] | None,
    subject: Descriptor | None = None,
) -> Image:
    blobs: dict[Digest, bytes] = {}
    layer_descs = []
    diff_ids = []
    for i in range(layers):
        compressed, raw = layer_tar({f"file-{seed}-{i}.txt": random_bytes(1024 + i, f"{seed}/{i}")})
        d = Digest.from_bytes(compressed)
        blobs[d] = compressed
        layer_descs.append(Descriptor(layer_type, d, len(compressed)).to_dict())
        diff_ids.append(str(Digest.from_bytes(raw)))
    config = {
        "architecture": platform.architecture,
        "os": platform.os,
        **({"variant": platform.variant} if platform.variant else {}),
        "config": {"Env": [f"SEED={seed}"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_raw = json.dumps(config, separators=(",", ":")).encode()
    config_digest = Digest.from_bytes(config_raw)
    blobs[config_digest] = config_raw
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": Descriptor(config_type, config_digest, len(config_raw)).to_dict(),
        "layers": layer_descs,
    }
    if subject is not None:
        data["subject"] = subject.to_dict()
    if annotations:
        data["annotations"] = annotations
    return Image(Manifest.from_data(data), blobs)


def oci_image(
    seed: int | str = 0,
    *,
    platform: Platform | str = "linux/amd64",
    layers: int = 2,
    annotations: dict[str, str] | None = None,
) -> Image:
    """An OCI image manifest with a config and ``layers`` gzip tar layers."""
    plat = Platform.parse(platform) if isinstance(platform, str) else platform
    return _image(
        mt.OCI_MANIFEST,
        mt.OCI_CONFIG,
        mt.OCI_LAYER_GZIP,
        seed=seed,
        platform=plat,
        layers=layers,
        annotations=annotations,
    )


def docker_image(
    seed: int | str = 0, *, platform: Platform | str = "linux/amd64", layers: int = 2
) -> Image:
    """A Docker schema2 image manifest."""
    plat = Platform.parse(platform) if isinstance(platform, str) else platform
    return _image(
        mt.DOCKER_MANIFEST,
        mt.DOCKER_CONFIG,
        mt.DOCKER_LAYER_GZIP,
        seed=seed,
        platform=plat,
        layers=layers,
        annotations=None,
    )


def _list(media_type: str, images: list[Image], annotations: dict[str, str] | None) -> Image:
    entries = []
    for img in images:
        cfg = json.loads(img.blobs[img.manifest.config.digest]) if img.manifest.config else {}
        plat = Platform(
            cfg.get("os", "linux"), cfg.get("architecture", "amd64"), cfg.get("variant", "")
        )
        entries.append(img.manifest.descriptor(platform=plat).to_dict())
    data: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    if annotations:
        data["annotations"] = annotations
    return Image(Manifest.from_data(data), {}, list(images))


def index_of(images: list[Image], *, annotations: dict[str, str] | None = None) -> Image:
    """An OCI index over ``images``, each entry carrying the platform from its config."""
    return _list(mt.OCI_INDEX, images, annotations)


def docker_list(images: list[Image]) -> Image:
    """A Docker manifest list over Docker ``images``."""
    return _list(mt.DOCKER_MANIFEST_LIST, images, None)


def artifact(
    subject: Descriptor | None,
    *,
    artifact_type: str = "application/vnd.example.sbom+json",
    payload: bytes = b'{"sbom": true}',
    annotations: dict[str, str] | None = None,
) -> Image:
    """An OCI artifact (empty config, one payload layer), optionally referring to ``subject``."""
    d = Digest.from_bytes(payload)
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": EMPTY_DESCRIPTOR.to_dict(),
        "layers": [Descriptor("application/json", d, len(payload)).to_dict()],
    }
    if subject is not None:
        data["subject"] = Descriptor(subject.media_type, subject.digest, subject.size).to_dict()
    if annotations:
        data["annotations"] = annotations
    return Image(Manifest.from_data(data), {d: payload, EMPTY_DESCRIPTOR.digest: b"{}"})


def push(scheme: Scheme, ref: Ref, image: Image, *, child: bool = False) -> None:
    """Push ``image`` (children, blobs, then the manifest) to ``ref`` through ``scheme``."""
    for sub in image.children:
        push(scheme, ref.with_digest(sub.digest), sub, child=True)
    for digest, data in image.blobs.items():
        scheme.blob_put(ref, digest, io.BytesIO(data), len(data))
    scheme.manifest_put(ref, image.manifest, child=child)
