"""Garbage collection on close: what it keeps, what it removes, and when it must not run."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ocidir_testlib import blob_files

from ocistore.digest import Digest
from ocistore.ref import Ref
from ocistore.settings import Settings
from ocistore.testing.content import (
    Image,
    artifact,
    docker_image,
    docker_list,
    index_of,
    oci_image,
    push,
)
from ocistore_ocidir.scheme import OCIDir


def all_digests(image: Image) -> set[str]:
    out = {str(image.digest)} | {str(d) for d in image.blobs}
    for child in image.children:
        out |= all_digests(child)
    return out


def garbage(scheme: OCIDir, layout: Ref, seed: str = "garbage") -> Digest:
    digest, _ = scheme.blob_put(layout, None, io.BytesIO(seed.encode()), None)
    return digest


def test_keeps_everything_reachable_and_removes_the_rest(scheme: OCIDir, layout: Ref) -> None:
    multi = index_of([oci_image("a"), oci_image("b", platform="linux/arm64")])
    docker = docker_list([docker_image("d1"), docker_image("d2", platform="linux/arm/v7")])
    push(scheme, layout.with_tag("multi"), multi)
    push(scheme, layout.with_tag("docker"), docker)
    art = artifact(multi.manifest.descriptor())
    push(scheme, layout.with_digest(art.digest), art, child=True)
    junk = garbage(scheme, layout)
    root = Path(layout.path)
    (root / "blobs/sha256/.blob.deadbeef.tmp").write_bytes(b"half a blob")
    (root / ".index.json.cafe.tmp").write_bytes(b"{")
    (root / "blobs/sha256/README").write_text("not a blob")
    scheme.close(layout)
    fallback = scheme.manifest_head(layout.with_tag(multi.digest.referrers_tag)).digest
    expected = all_digests(multi) | all_digests(docker) | all_digests(art) | {str(fallback)}
    assert blob_files(layout) == expected
    assert str(junk) not in blob_files(layout)
    assert not (root / "blobs/sha256/.blob.deadbeef.tmp").exists()
    assert not (root / ".index.json.cafe.tmp").exists()
    assert (root / "oci-layout").exists()
    assert (root / "index.json").exists()
    assert scheme.last_gc is not None
    assert len(scheme.last_gc.removed) == 4


def test_untagged_images_are_collected_shared_layers_kept(scheme: OCIDir, layout: Ref) -> None:
    one, two = oci_image("one"), oci_image("two")
    push(scheme, layout.with_tag("one"), one)
    push(scheme, layout.with_tag("two"), two)
    scheme.tag_delete(layout.with_tag("one"))
    scheme.close(layout)
    assert blob_files(layout) == all_digests(two)


def test_subjects_are_not_roots_and_referrers_survive(scheme: OCIDir, layout: Ref) -> None:
    subject = oci_image("subject")
    push(scheme, layout.with_tag("s"), subject)
    art = artifact(subject.manifest.descriptor())
    push(scheme, layout.with_digest(art.digest), art, child=True)
    scheme.tag_delete(layout.with_tag("s"))
    scheme.close(layout)
    files = blob_files(layout)
    assert str(subject.digest) not in files
    assert all_digests(art) <= files
    assert [d.digest for d in scheme.referrers(layout, subject.digest)] == [art.digest]


def test_sparse_layouts_survive(scheme: OCIDir, layout: Ref) -> None:
    """Only one platform of an index was copied: the missing child is no reason to fail."""
    present, absent = oci_image("present"), oci_image("absent", platform="linux/arm64")
    parent = index_of([present, absent])
    push(scheme, layout.with_digest(present.digest), present, child=True)
    scheme.manifest_put(layout.with_tag("sparse"), parent.manifest)
    junk = garbage(scheme, layout)
    scheme.close(layout)
    assert blob_files(layout) == {str(parent.digest)} | all_digests(present)
    assert str(junk) not in blob_files(layout)


def test_gc_lock_holds_collection_off_until_released(scheme: OCIDir, layout: Ref) -> None:
    with scheme.gc_lock(layout):
        junk = garbage(scheme, layout)
        with scheme.gc_lock(layout):
            pass  # nested holds count
        scheme.close(layout)
        assert str(junk) in blob_files(layout)
    scheme.close(layout)  # still marked modified: collects now
    assert str(junk) not in blob_files(layout)


def test_sessions_hold_collection_off(scheme: OCIDir, layout: Ref) -> None:
    with scheme.session(layout):
        junk = garbage(scheme, layout)
        scheme.close(layout)
        assert str(junk) in blob_files(layout)


def test_gc_can_be_turned_off(layout: Ref) -> None:
    scheme = OCIDir(Settings(options={"ocidir": {"gc": False}}))
    assert scheme.info().gc is False
    junk = garbage(scheme, layout)
    scheme.close(layout)
    assert str(junk) in blob_files(layout)


def test_only_an_instance_that_modified_the_layout_collects(scheme: OCIDir, layout: Ref) -> None:
    push(scheme, layout.with_tag("v1"), oci_image("v1"))
    no_gc = OCIDir(Settings(options={"ocidir": {"gc": False}}))
    junk = garbage(no_gc, layout)
    no_gc.close(layout)  # collects nothing, but stops holding the layout
    assert str(junk) in blob_files(layout)
    reader = OCIDir()
    reader.tag_list(layout)
    reader.close(layout)
    assert str(junk) in blob_files(layout)
    scheme.close(layout)
    assert str(junk) not in blob_files(layout)


@pytest.mark.parametrize("content", [b"{broken", b""])
def test_unreadable_index_json_means_no_collection(
    scheme: OCIDir, layout: Ref, content: bytes
) -> None:
    push(scheme, layout.with_tag("v1"), oci_image("v1"))
    before = blob_files(layout)
    (Path(layout.path) / "index.json").write_bytes(content)
    scheme.close(layout)
    assert blob_files(layout) == before
    assert scheme.last_gc is not None
    assert scheme.last_gc.skipped


def test_unknown_algorithm_directories_are_left_alone(scheme: OCIDir, layout: Ref) -> None:
    garbage(scheme, layout)
    alien = Path(layout.path) / "blobs/blake3" / ("0" * 64)
    alien.parent.mkdir()
    alien.write_bytes(b"not ours to judge")
    scheme.close(layout)
    assert alien.exists()


HOLDER = textwrap.dedent(
    """
    import sys
    from ocistore_ocidir.plugin import parse
    from ocistore_ocidir.scheme import OCIDir
    scheme = OCIDir()
    ref = parse(sys.argv[1])
    with scheme.gc_lock(ref):
        print("holding", flush=True)
        sys.stdin.readline()
    """
)


def test_another_process_holding_gc_lock_prevents_collection(scheme: OCIDir, layout: Ref) -> None:
    push(scheme, layout.with_tag("v1"), oci_image("v1"))
    junk = garbage(scheme, layout)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(layout)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        scheme.close(layout)
        assert str(junk) in blob_files(layout)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(30)
    assert holder.returncode == 0
    garbage(scheme, layout, "more")  # modified again
    scheme.close(layout)
    assert str(junk) not in blob_files(layout)


def test_an_unclosed_writer_in_another_instance_prevents_collection(
    scheme: OCIDir, layout: Ref
) -> None:
    """Blobs pushed but not yet referenced by a writer that has not closed must survive."""
    writer = OCIDir()
    pending = garbage(writer, layout, "pushed, manifest not yet put")
    junk = garbage(scheme, layout)
    scheme.close(layout)
    assert {str(pending), str(junk)} <= blob_files(layout)
    writer.close(layout)
    assert not {str(pending), str(junk)} & blob_files(layout)


def test_index_json_is_never_collected_even_if_empty(scheme: OCIDir, layout: Ref) -> None:
    garbage(scheme, layout)
    scheme.close(layout)
    assert json.loads((Path(layout.path) / "index.json").read_bytes())["manifests"] == []
    assert blob_files(layout) == set()
