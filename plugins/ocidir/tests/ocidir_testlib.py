"""Helpers shared by the ocidir tests (a module, not conftest, so tests can import it)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ocistore.digest import Digest
from ocistore.manifest import Manifest
from ocistore.ref import Ref
from ocistore.testing.content import Image

NewLayout = Callable[[], Ref]


def index_json(ref: Ref) -> dict[str, Any]:
    """index.json of ``ref``'s layout, parsed straight from disk."""
    doc: dict[str, Any] = json.loads((Path(ref.path) / "index.json").read_bytes())
    return doc


def names(ref: Ref) -> list[str | None]:
    """The ref.name of every index.json entry, in order (``None`` for untagged ones)."""
    return [
        (e.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        for e in index_json(ref)["manifests"]
    ]


def blob_files(ref: Ref) -> set[str]:
    """``alg:encoded`` of every blob file in the layout (temp files excluded)."""
    root = Path(ref.path) / "blobs"
    return {
        f"{d.name}:{f.name}"
        for d in root.iterdir()
        if d.is_dir()
        for f in d.iterdir()
        if not f.name.startswith(".")
    }


WORKER = Path(__file__).with_name("ocidir_worker.py")


def verify_layout(path: Path) -> list[str]:
    """Read a layout as a strict outsider would; returns the tags (asserts on any damage).

    * oci-layout and index.json parse;
    * every digest-named file under blobs/ hashes to its name;
    * every index.json entry's blob exists, and so do the config, layers and child manifests
      it names (blobs are always written before anything refers to them).
    """
    import hashlib

    assert json.loads((path / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((path / "index.json").read_bytes())
    for alg_dir in (path / "blobs").iterdir():
        for f in alg_dir.iterdir():
            if f.name.startswith("."):
                continue  # a temp file a killed writer left; GC removes it
            h = hashlib.new(alg_dir.name)
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            assert h.hexdigest() == f.name, f"{f} is corrupt"

    def blob(digest: str) -> Path:
        alg, _, hexa = digest.partition(":")
        return path / "blobs" / alg / hexa

    stack = list(index["manifests"])
    while stack:
        desc = stack.pop()
        assert blob(desc["digest"]).is_file(), f"{desc['digest']} referenced but missing"
        if desc["mediaType"].endswith(
            ("manifest.v1+json", "index.v1+json", "list.v2+json", "manifest.v2+json")
        ):
            doc = json.loads(blob(desc["digest"]).read_bytes())
            for d in [doc.get("config"), *doc.get("layers", []), *doc.get("manifests", [])]:
                if d:
                    if "manifests" in doc:
                        stack.append(d)
                    else:
                        assert blob(d["digest"]).is_file(), f"{d['digest']} missing"
    return sorted(
        e["annotations"]["org.opencontainers.image.ref.name"]
        for e in index["manifests"]
        if "annotations" in e
    )


def sharing_image(seed: str) -> Image:
    """A one-layer-plus-base image: every such image shares the same base layer blob, so a
    collection that misjudges what is in use would take a blob some other image needs."""
    from ocistore.testing.content import oci_image

    own = oci_image(seed, layers=1)
    base = oci_image("shared-base", layers=1)
    base_layer = base.manifest.layers[0]
    doc = json.loads(own.manifest.raw)
    doc["layers"].insert(0, base_layer.to_dict())
    blobs = {**own.blobs, base_layer.digest: base.blobs[base_layer.digest]}
    return Image(Manifest.from_data(doc), blobs)


class LayoutTamper:
    """The conformance kit's ``tamper``: rewrites ``blobs/<alg>/<hex>`` in place, as disk rot or
    a careless editor would (manifests are blobs in a layout)."""

    def blob(self, ref: Ref, digest: Digest, data: bytes) -> None:
        path = Path(ref.path) / "blobs" / digest.algorithm / digest.encoded
        assert len(data) == path.stat().st_size
        os.chmod(path, 0o644)
        path.write_bytes(data)

    def manifest(self, ref: Ref, digest: Digest, raw: bytes) -> None:
        self.blob(ref, digest, raw)
