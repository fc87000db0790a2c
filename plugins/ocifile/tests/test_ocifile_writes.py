"""Writing OCI layout tars: atomic replacement, appending, rollback of bad blobs, compression."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from ocifile_testlib import seed, tar_names, write_tar

from ocistore.client import Client
from ocistore.digest import Digest
from ocistore.errors import DigestMismatchError, OCIStoreError
from ocistore.testing import content
from ocistore_ocifile.ocitar import OCIFile
from ocistore_ocifile.plugin import parse


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tar_with(tmp_path: Path, tag: str, image: content.Image) -> Path:
    tar = tmp_path / "store.tar"
    with Client() as client:
        seed(client, f"ocidir://{tmp_path}/src:{tag}", image)
        client.image_copy(f"ocidir://{tmp_path}/src:{tag}", f"ocifile://{tar}:{tag}")
    return tar


def test_adding_an_image_keeps_what_was_there(tmp_path: Path) -> None:
    first, second = content.oci_image("first"), content.docker_image("second")
    tar = _tar_with(tmp_path, "one", first)
    with Client() as client:
        seed(client, f"ocidir://{tmp_path}/src:two", second)
        client.image_copy(f"ocidir://{tmp_path}/src:two", f"ocifile://{tar}:two")
    with Client() as client:
        assert client.tag_list(f"ocifile://{tar}") == ["one", "two"]
        for tag, image in (("one", first), ("two", second)):
            assert client.manifest_get(f"ocifile://{tar}:{tag}").raw == image.manifest.raw
            for digest, data in image.blobs.items():
                with client.blob_get(f"ocifile://{tar}", digest) as reader:
                    assert reader.read() == data
    names = tar_names(tar)
    assert names[0] == "oci-layout"
    assert names[-1] == "index.json"
    assert len(names) == len(set(names))  # each blob once, even the shared ones


def test_a_failed_copy_leaves_the_old_tar_untouched(tmp_path: Path) -> None:
    tar = _tar_with(tmp_path, "v1", content.oci_image("kept"))
    before = _sha(tar)
    broken = content.oci_image("broken")
    with Client() as client:
        seed(client, f"ocidir://{tmp_path}/bad:v2", broken)
    layer = broken.manifest.layers[1].digest
    blob = tmp_path / "bad" / "blobs" / "sha256" / layer.encoded
    blob.write_bytes(b"tampered" + blob.read_bytes()[8:])
    with Client() as client, pytest.raises(OCIStoreError, match=layer.encoded[:12]):
        client.image_copy(f"ocidir://{tmp_path}/bad:v2", f"ocifile://{tar}:v2")
    assert _sha(tar) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


_KILLED_WRITER = """
import io, sys, time
from pathlib import Path
from ocistore_ocifile.ocitar import OCIFile
from ocistore_ocifile.plugin import parse

class Stalling(io.RawIOBase):
    def __init__(self):
        self.sent = 0
    def readable(self):
        return True
    def readinto(self, b):
        if self.sent >= 3 * 1024 * 1024:
            Path(sys.argv[2]).write_text("stalled")
            time.sleep(600)
        n = min(len(b), 65536)
        b[:n] = b"x" * n
        self.sent += n
        return n

scheme = OCIFile()
ref = parse("ocifile://" + sys.argv[1])
with scheme.batch(ref):
    scheme.blob_put(ref, None, io.BufferedReader(Stalling()), None)
"""


def test_a_killed_write_leaves_the_old_tar_intact(tmp_path: Path) -> None:
    image = content.oci_image("survivor")
    tar = _tar_with(tmp_path, "v1", image)
    before = _sha(tar)
    flag = tmp_path / "stalled"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tar), str(flag)])
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert proc.poll() is None, "writer exited early"
            assert time.monotonic() < deadline, "writer never stalled"
            time.sleep(0.05)
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert temps, "the writer streams into a temporary file beside the tar"
        assert temps[0].stat().st_size >= 3 * 1024 * 1024
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _sha(tar) == before
    with Client() as client:
        assert client.manifest_get(f"ocifile://{tar}:v1").digest == image.digest


def test_a_blob_that_fails_verification_is_cut_out_again(tmp_path: Path) -> None:
    scheme = OCIFile()
    ref = parse(f"ocifile://{tmp_path}/t.tar")
    good, bad, later = b"good" * 1000, b"bad" * 1000, b"later" * 1000
    with scheme.batch(ref):
        scheme.blob_put(ref, Digest.from_bytes(good), io.BytesIO(good), len(good))
        with pytest.raises(DigestMismatchError):
            scheme.blob_put(ref, Digest.from_bytes(b"other"), io.BytesIO(bad), len(bad))
        scheme.blob_put(ref, None, io.BytesIO(later), None)
    with tarfile.open(tmp_path / "t.tar") as t:
        names = t.getnames()
        assert names == [
            "oci-layout",
            f"blobs/sha256/{Digest.from_bytes(good).encoded}",
            f"blobs/sha256/{Digest.from_bytes(later).encoded}",
            "index.json",
        ]
        member = t.extractfile(names[2])
        assert member is not None
        assert member.read() == later


def test_writes_outside_a_batch_are_on_disk_after_each_manifest(tmp_path: Path) -> None:
    scheme = OCIFile()
    ref = parse(f"ocifile://{tmp_path}/t.tar:v1")
    content.push(scheme, ref, content.oci_image("eager"))
    other = OCIFile()  # another instance (or process) reads the file itself
    assert other.manifest_get(ref).digest == content.oci_image("eager").digest


def test_gzip_tars_are_read_and_not_written(tmp_path: Path) -> None:
    image = content.index_of([content.oci_image("gz-a"), content.oci_image("gz-b")])
    tar = _tar_with(tmp_path, "v1", image)
    gz = tmp_path / "store.tar.gz"
    gz.write_bytes(gzip.compress(tar.read_bytes()))
    with Client() as client:
        assert client.manifest_get(f"ocifile://{gz}:v1").raw == image.manifest.raw
        result = client.image_copy(f"ocifile://{gz}:v1", f"ocidir://{tmp_path}/out:v1")
        assert result.digest == image.digest
        assert result.blobs_copied == len(image.all_blobs())
        with pytest.raises(OCIStoreError, match="compressed tars"):
            client.image_copy(f"ocidir://{tmp_path}/out:v1", f"ocifile://{gz}:again")
    renamed = tmp_path / "plain-name.tar"
    renamed.write_bytes(gz.read_bytes())
    with Client() as client, pytest.raises(OCIStoreError, match="gzip-compressed"):
        client.image_copy(f"ocidir://{tmp_path}/out:v1", f"ocifile://{renamed}:again")


def test_a_docker_save_tar_is_not_mistaken_for_a_layout(tmp_path: Path) -> None:
    tar = write_tar(tmp_path / "save.tar", {"manifest.json": b"[]"})
    with Client() as client, pytest.raises(OCIStoreError, match="docker-save") as info:
        client.tag_list(f"ocifile://{tar}")
    assert info.value.hint is not None
    assert "dockertar://" in info.value.hint


_ADDER = """
import sys
from ocistore.client import Client
from ocistore.testing import content
from ocistore_ocifile.ocitar import OCIFile
from ocistore_ocifile.plugin import parse

tar, tag = sys.argv[1], sys.argv[2]
scheme = OCIFile()
ref = parse(f"ocifile://{tar}:{tag}")
with scheme.batch(ref):
    content.push(scheme, ref, content.oci_image(f"proc-{tag}", layers=3))
"""


def test_two_processes_adding_to_one_tar_both_keep_their_image(tmp_path: Path) -> None:
    tar = _tar_with(tmp_path, "base", content.oci_image("base"))
    (tmp_path / f".{tar.name}.dead.tmp").write_bytes(b"left by a killed writer")
    tags = [f"p{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", _ADDER, str(tar), tag]) for tag in tags]
    assert [p.wait(timeout=120) for p in procs] == [0] * len(tags)
    with Client() as client:
        assert client.tag_list(f"ocifile://{tar}") == sorted(["base", *tags])
        for tag in tags:
            digest = content.oci_image(f"proc-{tag}", layers=3).digest
            assert client.manifest_get(f"ocifile://{tar}:{tag}").digest == digest
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
