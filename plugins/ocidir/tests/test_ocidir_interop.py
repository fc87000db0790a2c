"""Interop with real tools: skopeo and umoci read what ocidir writes, and ocidir reads theirs.

The tools come from Debian packages (CI installs them). A missing tool fails these tests rather
than skipping them: a skip would let CI go green without ever checking interop.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ocidir_testlib import verify_layout

from ocistore import mediatype as mt
from ocistore.digest import Digest
from ocistore.manifest import Manifest
from ocistore.ref import Ref
from ocistore.testing.content import (
    Image,
    artifact,
    index_of,
    layer_tar,
    oci_image,
    push,
)
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir

pytestmark = pytest.mark.interop

SKOPEO = Path("/usr/bin/skopeo")
UMOCI = Path("/usr/bin/umoci")
INSTALL_HINT = "apt-get install -y skopeo umoci"


@pytest.fixture(scope="module", autouse=True)
def tools_present() -> None:
    for tool in (SKOPEO, UMOCI):
        if not tool.exists():
            pytest.fail(
                f"{tool} not found: the interop tests need it ({INSTALL_HINT})", pytrace=False
            )


def run(*args: str | Path) -> str:
    proc = subprocess.run(
        [str(a) for a in args], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def skopeo(*args: str | Path) -> str:
    return run(SKOPEO, "--insecure-policy", *args)


def umoci(*args: str | Path) -> str:
    return run(UMOCI, *args)


def real_image(seed: str) -> Image:
    """An image umoci can unpack: gzip tar layers and a config whose diff_ids match them."""
    base = oci_image(seed, layers=0)
    layers = [
        layer_tar({"etc/motd": f"hello from {seed}\n".encode()}),
        layer_tar({"usr/share/doc/note.txt": b"second layer\n"}),
    ]
    config: dict[str, Any] = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": [str(Digest.from_bytes(raw)) for _, raw in layers],
        },
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ocistore test"}] * 2,
    }
    config_raw = json.dumps(config).encode()
    blobs = {Digest.from_bytes(gz): gz for gz, _ in layers}
    blobs[Digest.from_bytes(config_raw)] = config_raw
    manifest = Manifest.from_data(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "digest": str(Digest.from_bytes(config_raw)),
                "size": len(config_raw),
            },
            "layers": [
                {
                    "mediaType": mt.OCI_LAYER_GZIP,
                    "digest": str(Digest.from_bytes(gz)),
                    "size": len(gz),
                }
                for gz, _ in layers
            ],
        }
    )
    del base
    return Image(manifest, blobs)


def written_by_ocidir(path: Path, tag: str, image: Image) -> Ref:
    scheme = OCIDir()
    ref = parse(f"ocidir://{path}:{tag}")
    push(scheme, ref, image)
    scheme.close(ref)
    return ref


def assert_reads_exactly(path: Path, tag: str) -> Manifest:
    """ocidir reads the tag byte-exact (bytes == blob file, digest == index.json entry) and
    every blob it names verifies."""
    scheme = OCIDir()
    ref = parse(f"ocidir://{path}")
    index = json.loads((path / "index.json").read_bytes())
    entry = next(
        e
        for e in index["manifests"]
        if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    )
    manifest = scheme.manifest_get(ref.with_tag(tag))
    alg, _, hexa = entry["digest"].partition(":")
    on_disk = (path / "blobs" / alg / hexa).read_bytes()
    assert manifest.raw == on_disk
    assert (
        str(manifest.digest) == entry["digest"] == f"sha256:{hashlib.sha256(on_disk).hexdigest()}"
    )
    head = scheme.manifest_head(ref.with_tag(tag))
    assert (head.digest, head.size) == (manifest.digest, len(on_disk))
    children = manifest.manifests if manifest.is_index else manifest.children()
    for child in children:
        if manifest.is_index:
            sub = scheme.manifest_get(ref.with_digest(child.digest))
            for d in sub.children():
                with scheme.blob_get(ref, d.digest, size=d.size) as r:
                    r.verify_to_end()
        else:
            with scheme.blob_get(ref, child.digest, size=child.size) as r:
                r.verify_to_end()
    return manifest


# -- tools read what ocidir writes ---------------------------------------------------------------
def test_skopeo_inspects_an_ocidir_layout(tmp_path: Path) -> None:
    image = real_image("inspect")
    written_by_ocidir(tmp_path / "ours", "v1", image)
    info = json.loads(skopeo("inspect", f"oci:{tmp_path / 'ours'}:v1"))
    assert info["Digest"] == str(image.digest)
    assert info["Layers"] == [str(d.digest) for d in image.manifest.layers]
    assert info["Architecture"] == "amd64"
    assert info["Os"] == "linux"
    raw = skopeo("inspect", "--raw", f"oci:{tmp_path / 'ours'}:v1").encode()
    assert raw == image.manifest.raw


def test_skopeo_copies_from_an_ocidir_layout(tmp_path: Path) -> None:
    image = real_image("copy")
    written_by_ocidir(tmp_path / "ours", "v1", image)
    skopeo("copy", f"oci:{tmp_path / 'ours'}:v1", f"oci:{tmp_path / 'theirs'}:v1")
    assert assert_reads_exactly(tmp_path / "theirs", "v1").digest == image.digest


def test_skopeo_copies_a_multi_platform_index_written_by_ocidir(tmp_path: Path) -> None:
    image = index_of([oci_image("amd"), oci_image("arm", platform="linux/arm64")])
    written_by_ocidir(tmp_path / "ours", "multi", image)
    skopeo("copy", "--all", f"oci:{tmp_path / 'ours'}:multi", f"oci:{tmp_path / 'theirs'}:multi")
    got = assert_reads_exactly(tmp_path / "theirs", "multi")
    assert got.raw == image.manifest.raw


def test_docker_schema2_entries_are_written_as_skopeo_writes_them(tmp_path: Path) -> None:
    """skopeo 1.9 writes Docker schema2 into OCI layouts (``--format v2s2``) but cannot read
    such an entry back ("no descriptor found for reference"), and umoci refuses it too, so the
    check is that ocidir stores the same image exactly as skopeo did: same entry, same bytes."""
    src = umoci_layout(tmp_path / "umoci")
    skopeo("copy", "--format", "v2s2", f"oci:{src}:v2", f"oci:{tmp_path / 'skopeo'}:d")
    scheme = OCIDir()
    theirs = parse(f"ocidir://{tmp_path / 'skopeo'}:d")
    ours = parse(f"ocidir://{tmp_path / 'ours'}:d")
    manifest = scheme.manifest_get(theirs)
    for d in manifest.children():
        with scheme.blob_get(theirs, d.digest, size=d.size) as reader:
            scheme.blob_put(ours, d.digest, reader, d.size)
    scheme.manifest_put(ours, manifest)
    scheme.close(ours)
    entries = [
        json.loads((p / "index.json").read_bytes())["manifests"]
        for p in (tmp_path / "skopeo", tmp_path / "ours")
    ]
    assert entries[0] == entries[1]
    assert entries[1][0]["mediaType"] == mt.DOCKER_MANIFEST
    assert sorted((tmp_path / "skopeo/blobs/sha256").iterdir())
    assert {p.name: p.read_bytes() for p in (tmp_path / "skopeo/blobs/sha256").iterdir()} == {
        p.name: p.read_bytes() for p in (tmp_path / "ours/blobs/sha256").iterdir()
    }


def test_umoci_unpacks_an_ocidir_layout(tmp_path: Path) -> None:
    image = real_image("unpack")
    written_by_ocidir(tmp_path / "ours", "v1", image)
    bundle = tmp_path / "bundle"
    umoci("unpack", "--rootless", "--image", f"{tmp_path / 'ours'}:v1", bundle)
    assert (bundle / "rootfs/etc/motd").read_text() == "hello from unpack\n"
    assert (bundle / "rootfs/usr/share/doc/note.txt").read_text() == "second layer\n"
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == ["/bin/sh"]
    assert umoci("ls", "--layout", tmp_path / "ours").split() == ["v1"]


def test_tools_ignore_our_lock_files_and_referrers_tag(tmp_path: Path) -> None:
    image = real_image("extras")
    ref = written_by_ocidir(tmp_path / "ours", "v1", image)
    art = artifact(image.manifest.descriptor())
    push(OCIDir(), ref.with_digest(art.digest), art, child=True)
    assert (tmp_path / "ours/.ocistore-index.lock").exists()
    umoci("gc", "--layout", tmp_path / "ours")  # referrers survive: their tag is in index.json
    verify_layout(tmp_path / "ours")
    assert [d.digest for d in OCIDir().referrers(ref, image.digest)] == [art.digest]
    assert json.loads(skopeo("inspect", f"oci:{tmp_path / 'ours'}:v1"))["Digest"] == str(
        image.digest
    )


# -- ocidir reads what the tools write -------------------------------------------------------------
def test_ocidir_reads_a_skopeo_copied_oci_layout(tmp_path: Path) -> None:
    # the source is built by umoci, so that no ocidir bytes are involved at all
    src = umoci_layout(tmp_path / "umoci")
    skopeo("copy", f"oci:{src}:v2", f"oci:{tmp_path / 'skopeo'}:copied")
    assert assert_reads_exactly(tmp_path / "skopeo", "copied").media_type == mt.OCI_MANIFEST


def test_ocidir_reads_a_layout_skopeo_converted_to_docker_schema2(tmp_path: Path) -> None:
    src = umoci_layout(tmp_path / "umoci")
    skopeo("copy", "--format", "v2s2", f"oci:{src}:v2", f"oci:{tmp_path / 'v2s2'}:d")
    got = assert_reads_exactly(tmp_path / "v2s2", "d")
    assert got.media_type == mt.DOCKER_MANIFEST
    assert got.config is not None
    assert got.config.media_type == mt.DOCKER_CONFIG


def test_ocidir_reads_docker_schema2_copied_with_preserve_digests(tmp_path: Path) -> None:
    """A v2s2 image (skopeo dir: format) copied into a layout unchanged: digests preserved."""
    src = umoci_layout(tmp_path / "umoci")
    skopeo("copy", "--format", "v2s2", f"oci:{src}:v2", f"dir:{tmp_path / 'dir'}")
    original = (tmp_path / "dir/manifest.json").read_bytes()
    skopeo("copy", "--preserve-digests", f"dir:{tmp_path / 'dir'}", f"oci:{tmp_path / 'kept'}:k")
    got = assert_reads_exactly(tmp_path / "kept", "k")
    assert got.raw == original
    assert got.media_type == mt.DOCKER_MANIFEST


def umoci_layout(path: Path) -> Path:
    """init, new, insert, unpack, change, repack: a layout made by umoci alone."""
    umoci("init", "--layout", path)
    umoci("new", "--image", f"{path}:base")
    payload = path.parent / "payload.txt"
    payload.write_text("inserted by umoci\n")
    umoci("insert", "--rootless", "--image", f"{path}:base", payload, "/payload.txt")
    bundle = path.parent / "umoci-bundle"
    umoci("unpack", "--rootless", "--image", f"{path}:base", bundle)
    (bundle / "rootfs/added.txt").write_text("repacked\n")
    umoci("repack", "--image", f"{path}:v2", bundle)
    return path


def test_ocidir_reads_a_umoci_layout_without_manifest_media_types(tmp_path: Path) -> None:
    path = umoci_layout(tmp_path / "umoci")
    scheme = OCIDir()
    ref = parse(f"ocidir://{path}")
    assert scheme.tag_list(ref) == ["base", "v2"]
    for tag in ("base", "v2"):
        manifest = assert_reads_exactly(path, tag)
        assert "mediaType" not in json.loads(manifest.raw)  # umoci's quirk
        assert manifest.media_type == mt.OCI_MANIFEST
    v2 = scheme.manifest_get(ref.with_tag("v2"))
    assert len(v2.layers) == 2  # the insert and the repack


def test_ocidir_copies_a_umoci_image_and_the_tools_still_agree(tmp_path: Path) -> None:
    """Read with ocidir from umoci's layout, write with ocidir elsewhere, check with both tools."""
    path = umoci_layout(tmp_path / "umoci")
    scheme = OCIDir()
    src, dst = parse(f"ocidir://{path}:v2"), parse(f"ocidir://{tmp_path / 'ours'}:v2")
    manifest = scheme.manifest_get(src)
    for d in manifest.children():
        with scheme.blob_get(src, d.digest, size=d.size) as reader:
            scheme.blob_put(dst, d.digest, reader, d.size)
    scheme.manifest_put(dst, manifest)
    scheme.close(dst)
    info = json.loads(skopeo("inspect", f"oci:{tmp_path / 'ours'}:v2"))
    assert info["Digest"] == str(manifest.digest)
    umoci("unpack", "--rootless", "--image", f"{tmp_path / 'ours'}:v2", tmp_path / "b2")
    assert (tmp_path / "b2/rootfs/added.txt").read_text() == "repacked\n"
    assert (tmp_path / "b2/rootfs/payload.txt").read_text() == "inserted by umoci\n"


def test_writing_into_a_skopeo_layout_keeps_its_content(tmp_path: Path) -> None:
    """Our GC must not remove what skopeo put there (everything it wrote is reachable)."""
    src = umoci_layout(tmp_path / "umoci")
    target = tmp_path / "mixed"
    skopeo("copy", f"oci:{src}:base", f"oci:{target}:theirs")
    before = {p.name for p in (target / "blobs/sha256").iterdir()}
    written_by_ocidir(target, "ours", real_image("mixed"))
    assert before <= {p.name for p in (target / "blobs/sha256").iterdir()}
    for tag in ("theirs", "ours"):
        skopeo("inspect", f"oci:{target}:{tag}")
    assert sorted(umoci("ls", "--layout", target).split()) == ["ours", "theirs"]
    shutil.rmtree(tmp_path / "umoci")


def test_a_stream_written_blob_is_what_skopeo_reads(tmp_path: Path) -> None:
    image = real_image("stream")
    scheme = OCIDir()
    ref = parse(f"ocidir://{tmp_path / 'ours'}:s")
    for digest, data in image.blobs.items():
        scheme.blob_put(ref, None, io.BytesIO(data), None)
        assert (tmp_path / "ours/blobs/sha256" / digest.encoded).read_bytes() == data
    scheme.manifest_put(ref, image.manifest)
    skopeo("copy", f"oci:{tmp_path / 'ours'}:s", f"dir:{tmp_path / 'out'}")
    for digest, data in image.blobs.items():
        assert (tmp_path / "out" / digest.encoded).read_bytes() == data
