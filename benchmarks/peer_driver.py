"""The in-process peers (oras-py, python-dxf) and ocistore's own API, one operation per process.

The suite times each run of this script as a whole process under GNU ``time`` (as it times the
``ocistore`` and ``skopeo`` commands), so interpreter start-up and the library's imports count,
as they do for a user's script. The script also prints, as JSON, the time of the operation alone
(``inner``, after the imports).

Each peer is driven through its own public API, the way its documentation shows, one blob after
the other (neither library transfers blobs in parallel). Manifests are sent and stored as the
exact bytes read, so every target can be checked against the source digest:

``push LAYOUT TAG HOST REPO``     an OCI layout's image to a registry
``pull HOST REPO TAG DEST``       a registry image into a new OCI layout at DEST
``copy HOST REPO TAG HOST2 REPO2`` registry to registry (python-dxf streams; oras-py has no
                                  streaming upload, so it goes through a temporary file)
``tags HOST REPO``                list the tags (prints the count)

and, for ``ocistore`` only, ``layout-puts DIR N``: N distinct tagged manifests put into one
layout in one batch (``Client.batch``), the API a program storing many tags uses.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def read_layout(layout: Path, tag: str) -> tuple[bytes, dict[str, Any], list[dict[str, Any]]]:
    """(manifest bytes, manifest, blob descriptors) of ``tag`` in an OCI layout."""
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            break
    else:
        raise SystemExit(f"{layout}: no tag {tag}")
    raw = blob_path(layout, entry["digest"]).read_bytes()
    manifest = json.loads(raw)
    return raw, manifest, [manifest["config"], *manifest["layers"]]


def blob_path(layout: Path, digest: str) -> Path:
    alg, hexpart = digest.split(":", 1)
    return layout / "blobs" / alg / hexpart


def write_layout(dest: Path, tag: str, raw: bytes, media_type: str) -> None:
    """Store the manifest and an index.json naming it by ``tag`` (the blobs are there)."""
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    path = blob_path(dest, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entry = {
        "mediaType": media_type,
        "digest": digest,
        "size": len(raw),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    (dest / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [entry]}, separators=(",", ":"))
    )


# -- oras-py ------------------------------------------------------------------------------------
def oras_registry(host: str) -> Any:
    import oras.provider

    return oras.provider.Registry(hostname=host, insecure=True)


def oras_push(layout: str, tag: str, host: str, repo: str) -> None:
    reg = oras_registry(host)
    raw, manifest, blobs = read_layout(Path(layout), tag)
    container = reg.get_container(f"{host}/{repo}:{tag}")
    for desc in blobs:
        path = blob_path(Path(layout), desc["digest"])
        response = reg.upload_blob(str(path), container, desc)
        response.raise_for_status()
    oras_put_manifest(reg, container, raw, manifest["mediaType"])


def oras_put_manifest(reg: Any, container: Any, raw: bytes, media_type: str) -> None:
    # upload_manifest() would re-serialise the manifest (another digest): send the bytes.
    url = f"{reg.prefix}://{container.manifest_url()}"
    response = reg.do_request(url, "PUT", headers={"Content-Type": media_type}, data=raw)
    response.raise_for_status()


def oras_get_manifest(reg: Any, container: Any) -> bytes:
    url = f"{reg.prefix}://{container.manifest_url()}"
    response = reg.do_request(url, "GET", headers={"Accept": MANIFEST_ACCEPT})
    response.raise_for_status()
    return bytes(response.content)


def oras_pull(host: str, repo: str, tag: str, dest: str) -> None:
    reg = oras_registry(host)
    container = reg.get_container(f"{host}/{repo}:{tag}")
    raw = oras_get_manifest(reg, container)
    manifest = json.loads(raw)
    for desc in [manifest["config"], *manifest["layers"]]:
        reg.download_blob(container, desc["digest"], str(blob_path(Path(dest), desc["digest"])))
    write_layout(Path(dest), tag, raw, manifest["mediaType"])


def oras_copy(host: str, repo: str, tag: str, host2: str, repo2: str) -> None:
    src, dst = oras_registry(host), oras_registry(host2)
    src_c = src.get_container(f"{host}/{repo}:{tag}")
    dst_c = dst.get_container(f"{host2}/{repo2}:{tag}")
    raw = oras_get_manifest(src, src_c)
    manifest = json.loads(raw)
    with tempfile.TemporaryDirectory(prefix="oras-copy-") as tmp:
        for desc in [manifest["config"], *manifest["layers"]]:
            path = os.path.join(tmp, "blob")
            src.download_blob(src_c, desc["digest"], path)
            dst.upload_blob(path, dst_c, desc).raise_for_status()
    oras_put_manifest(dst, dst_c, raw, manifest["mediaType"])


def oras_tags(host: str, repo: str) -> int:
    reg = oras_registry(host)
    return len(reg.get_tags(f"{host}/{repo}"))


# -- python-dxf ---------------------------------------------------------------------------------
def dxf_repo(host: str, repo: str) -> Any:
    from dxf import DXF

    return DXF(host, repo, insecure=True)


def dxf_push(layout: str, tag: str, host: str, repo: str) -> None:
    dxf = dxf_repo(host, repo)
    raw, _manifest, blobs = read_layout(Path(layout), tag)
    for desc in blobs:
        dxf.push_blob(str(blob_path(Path(layout), desc["digest"])))
    dxf.set_manifest(tag, raw.decode())


def dxf_pull(host: str, repo: str, tag: str, dest: str) -> None:
    dxf = dxf_repo(host, repo)
    text = dxf.get_manifest(tag)
    manifest = json.loads(text)
    for desc in [manifest["config"], *manifest["layers"]]:
        path = blob_path(Path(dest), desc["digest"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            for chunk in dxf.pull_blob(desc["digest"]):  # verifies the digest at the end
                fh.write(chunk)
    write_layout(Path(dest), tag, text.encode(), manifest["mediaType"])


def dxf_copy(host: str, repo: str, tag: str, host2: str, repo2: str) -> None:
    src, dst = dxf_repo(host, repo), dxf_repo(host2, repo2)
    text = src.get_manifest(tag)
    manifest = json.loads(text)
    for desc in [manifest["config"], *manifest["layers"]]:
        dst.push_blob(data=src.pull_blob(desc["digest"]), digest=desc["digest"])
    dst.set_manifest(tag, text)


def dxf_tags(host: str, repo: str) -> int:
    return len(dxf_repo(host, repo).list_aliases())


# -- ocistore's API -----------------------------------------------------------------------------
def ocistore_layout_puts(directory: str, count: str) -> dict[str, Any]:
    """``count`` distinct manifests (one config and layer), each under its own tag, one batch."""
    import io

    from ocistore import Client
    from ocistore import mediatype as mt
    from ocistore.descriptor import Descriptor
    from ocistore.digest import Digest
    from ocistore.manifest import Manifest

    n = int(count)
    client = Client()
    base = f"ocidir://{directory}"
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"layer bytes\n" * 64
    descs = []
    for data, media_type in ((config, mt.OCI_CONFIG), (layer, mt.OCI_LAYER)):
        digest = Digest.from_bytes(data)
        client.blob_put(f"{base}:seed", io.BytesIO(data), digest=digest, length=len(data))
        descs.append(Descriptor(media_type, digest, len(data)).to_dict())
    manifests = [
        Manifest.from_data(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": descs[0],
                "layers": descs[1:],
                "annotations": {"bench.index": str(i)},
            }
        )
        for i in range(n)
    ]
    start = time.perf_counter()
    with client.batch(f"{base}:seed"):
        for i, manifest in enumerate(manifests):
            client.manifest_put(f"{base}:t{i}", manifest)
    client.close()
    inner = time.perf_counter() - start
    return {"inner": inner, "per_tag_us": inner / n * 1e6, "count": n}


OPS: dict[tuple[str, str], Callable[..., Any]] = {
    ("oras", "push"): oras_push,
    ("oras", "pull"): oras_pull,
    ("oras", "copy"): oras_copy,
    ("oras", "tags"): oras_tags,
    ("dxf", "push"): dxf_push,
    ("dxf", "pull"): dxf_pull,
    ("dxf", "copy"): dxf_copy,
    ("dxf", "tags"): dxf_tags,
    ("ocistore", "layout-puts"): ocistore_layout_puts,
}


LIBRARY = {"oras": "oras.provider", "dxf": "dxf", "ocistore": "ocistore.client"}


def main(argv: list[str]) -> None:
    tool, op, *args = argv
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"  # loopback only, never a proxy
    importlib.import_module(LIBRARY[tool])  # "inner" leaves the imports out
    start = time.perf_counter()
    result = OPS[tool, op](*args)
    report: dict[str, Any] = {"inner": time.perf_counter() - start}
    if isinstance(result, dict):
        report.update(result)
    elif result is not None:
        report["count"] = result
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
