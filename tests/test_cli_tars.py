"""Every verb works on image tars through the installed CLI: the tar schemes are ordinary
schemes (``ocifile://``, ``dockertar://``), not special verbs."""

from __future__ import annotations

import json
from pathlib import Path

from ocistore.testing import content
from tests.test_cli import assert_one_line_error, run, seed
from tests.test_cli_archive import skopeo


def test_verbs_read_and_write_an_oci_layout_tar(tmp_path: Path) -> None:
    index = content.index_of(
        [content.oci_image(301), content.oci_image(302, platform="linux/arm64")]
    )
    src = seed(tmp_path / "src", "v1", index)
    tar = tmp_path / "store.tar"
    ref = f"ocifile://{tar}"
    run("image", "copy", src, f"{ref}:v1")
    assert run("tag", "ls", ref).out.split() == ["v1"]
    assert run("manifest", "get", f"{ref}:v1").stdout == index.manifest.raw
    assert run("image", "digest", f"{ref}:v1").out.strip() == str(index.digest)
    info = run("image", "inspect", f"{ref}:v1", "--platform", "linux/arm64", "--format", "json")
    assert info.json()["digest"] == str(index.children[1].digest)
    assert info.json()["config"]["architecture"] == "arm64"
    layer = index.children[0].manifest.layers[0]
    assert (
        run("blob", "get", ref, str(layer.digest)).stdout == index.children[0].blobs[layer.digest]
    )
    # artifacts and referrers, written into the tar and listed from it
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"release notes\n")
    run(
        "artifact", "put", ref, notes, "--subject", f"{ref}:v1",
        "--artifact-type", "application/vnd.example.notes",
    )  # fmt: skip
    listed = run("artifact", "list", f"{ref}:v1", "--format", "json").json()
    assert [r["artifactType"] for r in listed["referrers"]] == ["application/vnd.example.notes"]
    out = tmp_path / "got"
    run(
        "artifact",
        "get",
        f"{ref}:v1",
        "--artifact-type",
        "application/vnd.example.notes",
        "-o",
        out,
    )
    assert (out / "notes.txt").read_bytes() == b"release notes\n"
    # a second tag, then its removal; skopeo still reads the tar
    run("image", "copy", f"{ref}:v1", f"{ref}:v2")
    assert run("tag", "ls", ref).out.split() == ["v1", "v2"]
    run("tag", "delete", f"{ref}:v2")
    assert run("tag", "ls", ref).out.split() == ["v1"]
    raw = skopeo("inspect", "--raw", f"oci-archive:{tar}:v1")
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.encode() == index.manifest.raw


def test_verbs_on_a_docker_save_tar(tmp_path: Path) -> None:
    image = content.docker_image(303)
    src = seed(tmp_path / "src", "v1", image)
    tar = tmp_path / "save.tar"
    run("image", "copy", src, f"dockertar://{tar}:1.0")
    assert run("image", "digest", f"dockertar://{tar}:1.0").out.strip() == str(image.digest)
    assert run("tag", "ls", f"dockertar://{tar}").out.split() == ["1.0"]
    proc = skopeo("inspect", f"docker-archive:{tar}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Architecture"] == "amd64"
    # what docker-save cannot hold is refused, naming it, and nothing is written
    multi = seed(tmp_path / "src", "multi", content.index_of([content.oci_image(304)]))
    res = run("image", "copy", multi, f"dockertar://{tmp_path}/no.tar:x", expect=1)
    assert_one_line_error(res, "Docker v2 schema 2 images only")
    assert not (tmp_path / "no.tar").exists()
