"""Import from an OCI image layout tar: pick an image in ``index.json``, push it, children first.

Manifests are read from the archive and checked against the digests that name them; blobs are
streamed from the archive through verifying readers, and a blob the target already has is not
sent again. Children go before parents so that a registry never sees an index whose entries are
missing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ocistore import mediatype as mt
from ocistore.archive.export import CONTAINERD_NAME, REF_NAME
from ocistore.archive.result import ImportResult, Tally
from ocistore.blob import BlobReader
from ocistore.errors import (
    BlobNotFoundError,
    LayoutError,
    LoopDetectedError,
    NotFoundError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest

if TYPE_CHECKING:
    from ocistore.archive.tarutil import TarMembers
    from ocistore.client import Client
    from ocistore.descriptor import Descriptor
    from ocistore.digest import Digest
    from ocistore.ref import Ref

__all__ = ["import_oci", "select_entry"]


def _names(desc: Descriptor) -> list[str]:
    return [v for k, v in desc.annotations.items() if k in (REF_NAME, CONTAINERD_NAME) and v]


def _matches(value: str, wanted: str) -> bool:
    """Exact, or the tag part of a full reference (``docker.io/library/x:1`` matches ``1``)."""
    return value == wanted or value.endswith(f":{wanted}")


def select_entry(
    entries: tuple[Descriptor, ...], name: str | None, tag: str, what: str
) -> Descriptor:
    """The ``index.json`` entry to import: by ``name``, the only one, or the target's tag."""
    if not entries:
        raise LayoutError(f"{what}: index.json lists no manifests")
    if name:
        for desc in entries:
            if any(_matches(v, name) for v in _names(desc)) or str(desc.digest) == name:
                return desc
        raise NotFoundError(
            f"{what}: no image named {name!r} (has: {_listing(entries)})",
        )
    if len(entries) == 1:
        return entries[0]
    if tag:
        hits = [d for d in entries if any(_matches(v, tag) for v in _names(d))]
        if len(hits) == 1:
            return hits[0]
    raise LayoutError(
        f"{what}: holds {len(entries)} images ({_listing(entries)}); which one?",
        hint="choose with --name NAME (a tag or digest from the list)",
    )


def _listing(entries: tuple[Descriptor, ...]) -> str:
    out = []
    for d in entries:
        names = _names(d)
        out.append(names[0] if names else str(d.digest))
    return ", ".join(out)


def _blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.encoded}"


class _Importer:
    def __init__(self, client: Client, target: Ref, members: TarMembers) -> None:
        self.client = client
        self.target = target
        self.members = members
        self.tally = Tally()
        self._done: set[Digest] = set()

    def manifest(self, desc: Descriptor) -> Manifest:
        path = _blob_path(desc.digest)
        if path not in self.members:
            raise BlobNotFoundError(
                f"{self.members.what}: manifest {desc.digest} is missing from the archive"
            )
        raw = self.members.read_small(path, MAX_MANIFEST_SIZE)
        return Manifest.from_bytes(
            raw, media_type=desc.media_type or None, expected_digest=desc.digest
        )

    def blob(self, desc: Descriptor) -> None:
        if desc.digest in self._done:
            return
        path = _blob_path(desc.digest)
        if path not in self.members:
            if desc.urls:
                return  # a foreign layer, legitimately absent
            raise BlobNotFoundError(
                f"{self.members.what}: blob {desc.digest} is missing from the archive"
            )
        self._done.add(desc.digest)
        try:
            self.client.blob_head(self.target, desc.digest)
        except NotFoundError:
            pass
        else:
            self.tally.blobs_skipped += 1
            return
        with BlobReader(
            self.members.open(path),
            digest=desc.digest,
            size=desc.size,
            name=f"blob {desc.digest} in {self.members.what}",
        ) as reader:
            self.client.blob_put(self.target, reader, digest=desc.digest, length=desc.size)
        self.tally.blobs_pushed += 1
        self.tally.bytes += desc.size

    def push(self, desc: Descriptor, *, child: bool, path: tuple[Digest, ...] = ()) -> Manifest:
        if desc.digest in path:
            raise LoopDetectedError(f"{self.members.what}: index {desc.digest} contains itself")
        manifest = self.manifest(desc)
        if manifest.is_index:
            for entry in manifest.manifests:
                self.push(entry, child=True, path=(*path, desc.digest))
        else:
            for blob in manifest.children():
                self.blob(blob)
        ref = self.target.with_digest(manifest.digest) if child else self.target
        self.client.manifest_put(ref, manifest, child=child)
        self.tally.manifests += 1
        return manifest


def import_oci(
    client: Client, target: Ref, members: TarMembers, *, name: str | None = None
) -> ImportResult:
    """Push the selected image of an OCI layout archive to ``target``."""
    layout = json.loads(members.read_small("oci-layout", 64 * 1024) or b"{}")
    version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
    if version != "1.0.0":
        raise LayoutError(
            f"{members.what}: unsupported imageLayoutVersion {version!r} (expected '1.0.0')"
        )
    raw_index = members.read_small("index.json", MAX_MANIFEST_SIZE)
    index = Manifest.from_bytes(raw_index, media_type=mt.OCI_INDEX)
    entry = select_entry(index.manifests, name, target.tag, members.what)
    importer = _Importer(client, target, members)
    top = importer.push(entry, child=False)
    t = importer.tally
    return ImportResult(
        top.digest, top.media_type, "oci", t.manifests, t.blobs_pushed, t.blobs_skipped, t.bytes
    )
