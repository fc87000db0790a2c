"""Hostile layouts: whatever a layout on disk holds, ocidir stays inside it and ends clearly.

Each case takes a good layout and breaks it the way an attacker (or a broken tool) could: index
entries whose digest is a path (``sha256:../../x``, an absolute path, a NUL byte), links out of
``blobs/`` (a blob, the whole ``blobs/sha256`` directory, index.json, oci-layout), special files
(a FIFO, ``/dev/zero``), a manifest that names itself, indexes nested 1,000 deep, and sizes that
are huge or lie. Then every operation a user has runs against it: list tags, get and head every
tag, read every blob, copy every tag to a fresh layout, and a write followed by close (which
collects garbage). Each must either work or raise an ocistore error (nothing else); a directory
beside the layout, full of files a link points at, must be unchanged afterwards; and the cases
where following a link would have "worked" must fail, naming the link.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ocidir_testlib import verify_layout

from ocistore import mediatype as mt
from ocistore.client import Client
from ocistore.digest import Digest
from ocistore.errors import (
    CopyError,
    DigestMismatchError,
    LayoutError,
    OCIStoreError,
    SizeLimitExceededError,
    VerificationError,
)
from ocistore.settings import Settings
from ocistore.testing.content import oci_image, push
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir

IMAGE = oci_image("hostile", layers=2)


def good_layout(path: Path) -> None:
    scheme = OCIDir(Settings())
    push(scheme, parse(f"ocidir://{path}:good"), IMAGE)
    scheme.close(parse(f"ocidir://{path}"))


def index_doc(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((path / "index.json").read_bytes())
    return doc


def write_index(path: Path, doc: dict[str, Any]) -> None:
    (path / "index.json").write_text(json.dumps(doc))


def add_entry(path: Path, tag: str, **fields: Any) -> None:
    doc = index_doc(path)
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": str(IMAGE.digest), "size": 1, **fields}
    entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
    doc["manifests"].append(entry)
    write_index(path, doc)


def blob(path: Path, digest: Digest | str) -> Path:
    alg, _, hexa = str(digest).partition(":")
    return path / "blobs" / alg / hexa


def put_raw(path: Path, data: bytes) -> Digest:
    digest = Digest.from_bytes(data)
    blob(path, digest).write_bytes(data)
    return digest


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


Outcomes = dict[str, OCIStoreError | None]


def exercise(path: Path, tmp: Path) -> Outcomes:
    """Every user operation on the layout; each outcome is ``None`` (it worked) or the error."""
    outcomes: Outcomes = {}

    def attempt(name: str, op: Callable[[], object]) -> None:
        try:
            op()
        except OCIStoreError as e:
            outcomes[name] = e
        else:
            outcomes[name] = None

    scheme = OCIDir(Settings())
    ref = parse(f"ocidir://{path}")
    tags: list[str] = []

    def list_tags() -> None:
        tags.extend(scheme.tag_list(ref))

    attempt("tag list", list_tags)
    for tag in tags:
        attempt(f"head {tag}", lambda tag=tag: scheme.manifest_head(ref.with_tag(tag)))

        def read_all(tag: str = tag) -> None:
            manifest = scheme.manifest_get(ref.with_tag(tag))
            for child in manifest.children():
                if manifest.is_index:
                    scheme.manifest_get(ref.with_digest(child.digest))
                else:
                    with scheme.blob_get(ref, child.digest, size=child.size) as r:
                        r.verify_to_end()

        attempt(f"read {tag}", read_all)
        with Client(settings=Settings(docker_config=False)) as client:
            attempt(
                f"platform {tag}",
                lambda tag=tag: client.manifest_get(ref.with_tag(tag), platform="linux/amd64"),
            )
            target = tmp / f"copy-{len(outcomes)}"
            attempt(
                f"copy {tag}",
                lambda tag=tag, target=target: client.image_copy(
                    ref.with_tag(tag), f"ocidir://{target}:{tag}"
                ),
            )

    def write_and_collect() -> None:
        writer = OCIDir(Settings())
        data = b"a write into the hostile layout"
        writer.blob_put(ref, Digest.from_bytes(data), io.BytesIO(data), len(data))
        writer.close(ref)

    attempt("write+gc", write_and_collect)
    return outcomes


Case = Callable[[Path, Path], None]


def entry_digest_is_a_path(path: Path, outside: Path) -> None:
    for tag, digest in [
        ("dotdot", "sha256:../../outside/secret"),
        ("absolute", f"sha256:{outside}/secret"),
        ("nul", "sha256:" + "a" * 32 + "\x00" + "b" * 31),
        ("dotdot-alg", "../../outside:" + "a" * 64),
        ("empty", ""),
    ]:
        add_entry(path, tag, digest=digest)


def blob_is_a_link_out(path: Path, outside: Path) -> None:
    # the outside file holds exactly the right bytes: following the link would "work"
    layer = IMAGE.manifest.layers[0]
    (outside / "layer").write_bytes(IMAGE.blobs[layer.digest])
    blob(path, layer.digest).unlink()
    blob(path, layer.digest).symlink_to(outside / "layer")
    manifest = blob(path, IMAGE.digest)
    (outside / "manifest").write_bytes(manifest.read_bytes())
    manifest.unlink()
    manifest.symlink_to(outside / "manifest")


def blob_dir_is_a_link_out(path: Path, outside: Path) -> None:
    sha = path / "blobs" / "sha256"
    for f in sha.iterdir():
        (outside / f.name).write_bytes(f.read_bytes())
        f.unlink()
    sha.rmdir()
    (outside / "unrelated-file-gc-must-not-touch").write_bytes(b"precious")
    sha.symlink_to(outside)


def index_json_is_a_link_out(path: Path, outside: Path) -> None:
    (outside / "index.json").write_bytes((path / "index.json").read_bytes())
    (path / "index.json").unlink()
    (path / "index.json").symlink_to(outside / "index.json")


def index_json_is_dev_zero(path: Path, outside: Path) -> None:
    (path / "index.json").unlink()
    (path / "index.json").symlink_to("/dev/zero")


def oci_layout_is_a_fifo(path: Path, outside: Path) -> None:
    (path / "oci-layout").unlink()
    os.mkfifo(path / "oci-layout")


def index_json_is_huge(path: Path, outside: Path) -> None:
    with (path / "index.json").open("r+b") as fh:
        fh.truncate(300 * 1024 * 1024)  # sparse: costs no disk


def manifest_names_itself(path: Path, outside: Path) -> None:
    """A blob whose content lists its own file name as a child (it cannot hash to it)."""
    fake = Digest.from_bytes(b"placeholder")
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [{"mediaType": mt.OCI_INDEX, "digest": str(fake), "size": 100}],
    }
    raw = json.dumps(doc).encode()
    blob(path, fake).write_bytes(raw)
    add_entry(path, "self", mediaType=mt.OCI_INDEX, digest=str(fake), size=len(raw))


def indexes_1000_deep(path: Path, outside: Path) -> None:
    child = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": str(IMAGE.digest),
        "size": len(IMAGE.manifest.raw),
    }
    for _ in range(1000):
        raw = json.dumps(
            {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [child]}
        ).encode()
        child = {"mediaType": mt.OCI_INDEX, "digest": str(put_raw(path, raw)), "size": len(raw)}
    add_entry(path, "deep", **child)


def sizes_lie(path: Path, outside: Path) -> None:
    add_entry(path, "huge", size=10**30)
    add_entry(path, "negative", size=-1)
    add_entry(path, "short", size=3)
    doc = json.loads(IMAGE.manifest.raw)
    doc["layers"][0]["size"] = 10
    doc["layers"][1]["size"] = 2**62
    raw = json.dumps(doc).encode()
    add_entry(path, "lying-layers", digest=str(put_raw(path, raw)), size=len(raw))


def blob_content_is_wrong(path: Path, outside: Path) -> None:
    layer = IMAGE.manifest.layers[1]
    blob(path, layer.digest).write_bytes(b"not the layer")


OK = None
CASES: dict[str, tuple[Case, dict[str, type[OCIStoreError] | None]]] = {
    # name: (how to break the layout, outcomes that must hold (the rest: ok or any ocistore error))
    "entry digest is a path": (
        entry_digest_is_a_path,
        {
            "read good": OK,
            "read dotdot": LayoutError,
            "read absolute": LayoutError,
            "read nul": LayoutError,
            "copy dotdot": LayoutError,
        },
    ),
    "blob is a link out": (
        blob_is_a_link_out,
        {"read good": LayoutError, "copy good": LayoutError, "write+gc": OK},
    ),
    "blobs/sha256 is a link out": (
        blob_dir_is_a_link_out,
        {"read good": LayoutError, "copy good": LayoutError, "write+gc": LayoutError},
    ),
    "index.json is a link out": (index_json_is_a_link_out, {"tag list": LayoutError}),
    "index.json is /dev/zero": (index_json_is_dev_zero, {"tag list": LayoutError}),
    "oci-layout is a FIFO": (oci_layout_is_a_fifo, {"write+gc": LayoutError}),
    "index.json is 300 MB": (index_json_is_huge, {"tag list": SizeLimitExceededError}),
    "manifest names itself": (
        manifest_names_itself,
        {"read self": DigestMismatchError, "copy self": CopyError, "write+gc": OK},
    ),
    "indexes 1,000 deep": (
        indexes_1000_deep,
        {"read good": OK, "platform deep": OCIStoreError, "write+gc": OK},
    ),
    "sizes lie": (
        sizes_lie,
        {
            "read huge": VerificationError,
            "read short": SizeLimitExceededError,
            "read negative": LayoutError,
            "read lying-layers": SizeLimitExceededError,
            "write+gc": OK,
        },
    ),
    "blob content is wrong": (
        blob_content_is_wrong,
        {"read good": VerificationError, "copy good": CopyError},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_layout_stays_inside_and_ends_clearly(tmp_path: Path, name: str) -> None:
    path, outside = tmp_path / "layout", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"must never be read or removed")
    good_layout(path)
    break_it, expected = CASES[name]
    break_it(path, outside)
    before = snapshot(outside)
    outcomes = exercise(path, tmp_path)
    assert snapshot(outside) == before, "something outside the layout changed"
    for op, want in expected.items():
        got = outcomes[op]
        if want is None:
            assert got is None, f"{name}: {op} failed: {got!r}"
        else:
            assert isinstance(got, want), f"{name}: {op} gave {got!r}, not {want.__name__}"
    errors = {op: f"{type(e).__name__}: {e}" for op, e in outcomes.items() if e is not None}
    assert all(str(e) for e in outcomes.values() if e is not None), "an error without a message"
    print(f"\nhostile layout {name!r}: {len(outcomes)} operations, {len(errors)} clear errors")
    for op, text in errors.items():
        print(f"  {op}: {text[:160]}")


def test_a_put_over_a_link_replaces_the_link_and_leaves_its_target_alone(tmp_path: Path) -> None:
    path, outside = tmp_path / "layout", tmp_path / "outside"
    outside.mkdir()
    good_layout(path)
    data = b"the real blob"
    digest = Digest.from_bytes(data)
    (outside / "victim").write_bytes(b"would be overwritten through the link")
    blob(path, digest).symlink_to(outside / "victim")
    scheme = OCIDir(Settings())
    ref = parse(f"ocidir://{path}")
    scheme.blob_put(ref, digest, io.BytesIO(data), len(data))
    assert not blob(path, digest).is_symlink()
    assert blob(path, digest).read_bytes() == data
    assert (outside / "victim").read_bytes() == b"would be overwritten through the link"


def test_a_layout_to_layout_link_verifies_the_source_first(tmp_path: Path) -> None:
    """Hard-linking shares the source's bytes, so a damaged source blob is refused (and the
    copy falls back to streaming it, which fails on the digest), never linked in."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    good_layout(src)
    layer = IMAGE.manifest.layers[0]
    blob(src, layer.digest).write_bytes(b"x" * layer.size)  # right size, wrong bytes
    old = oci_image("the tag's old image")
    push(OCIDir(Settings()), parse(f"ocidir://{dst}:good"), old)
    with Client(settings=Settings(docker_config=False)) as client, pytest.raises(CopyError):
        client.image_copy(f"ocidir://{src}:good", f"ocidir://{dst}:good")
    assert not blob(dst, layer.digest).exists()
    # the failed copy did not move the tag to an image whose blobs are missing
    assert verify_layout(dst) == ["good"]
    assert OCIDir(Settings()).manifest_head(parse(f"ocidir://{dst}:good")).digest == old.digest
