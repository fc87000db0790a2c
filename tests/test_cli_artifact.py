"""Artifacts and indexes through the installed ``ocistore`` command, on OCI layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocistore import mediatype as mt
from ocistore.digest import Digest
from ocistore.testing import content
from tests.test_cli import assert_one_line_error, run, seed
from tests.test_cli_ocidir import _multi


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


# -- artifact -----------------------------------------------------------------------------------
def test_artifact_put_get_roundtrip(tmp_path: Path, store: Path) -> None:
    files = tmp_path / "in"
    files.mkdir()
    (files / "readme.txt").write_text("hello\n")
    (files / "data.bin").write_bytes(content.random_bytes(300_000, "data"))
    ref = f"ocidir://{store}:docs"
    digest = run(
        "artifact",
        "put",
        ref,
        files / "readme.txt",
        files / "data.bin",
        "--artifact-type",
        "application/vnd.example.docs",
        "--annotation",
        "org.example.kind=docs",
    ).out.strip()
    manifest = json.loads(run("manifest", "get", ref).stdout)
    assert manifest["artifactType"] == "application/vnd.example.docs"
    assert manifest["config"]["mediaType"] == mt.OCI_EMPTY
    titles = [lay["annotations"]["org.opencontainers.image.title"] for lay in manifest["layers"]]
    assert titles == ["readme.txt", "data.bin"]
    assert manifest["annotations"] == {"org.example.kind": "docs"}
    out = tmp_path / "out"
    got = run("artifact", "get", ref, "-o", out, "--format", "json").json()
    assert got["digest"] == digest
    for name in ("readme.txt", "data.bin"):
        assert (out / name).read_bytes() == (files / name).read_bytes()


def test_artifact_get_single_file_to_stdout(tmp_path: Path, store: Path) -> None:
    (tmp_path / "one.txt").write_text("only\n")
    run("artifact", "put", f"ocidir://{store}:one", tmp_path / "one.txt")
    assert run("artifact", "get", f"ocidir://{store}:one").stdout == b"only\n"


def test_artifact_with_subject_and_list(tmp_path: Path, store: Path) -> None:
    image = content.oci_image(21)
    ref = seed(store, "v1", image)
    (tmp_path / "sbom.json").write_text('{"sbom": 1}')
    (tmp_path / "sig.txt").write_text("signed")
    sbom = run(
        "artifact",
        "put",
        f"ocidir://{store}",
        tmp_path / "sbom.json",
        "--subject",
        ref,
        "--artifact-type",
        "application/spdx+json",
    ).out.strip()
    sig = run(
        "artifact",
        "put",
        f"ocidir://{store}",
        tmp_path / "sig.txt",
        "--subject",
        f"@{image.digest}",
        "--artifact-type",
        "application/vnd.example.sig",
    ).out.strip()
    listed = run("artifact", "list", ref, "--format", "json").json()
    assert sorted(r["digest"] for r in listed["referrers"]) == sorted([sbom, sig])
    only = run(
        "artifact", "ls", ref, "--artifact-type", "application/spdx+json", "--format", "json"
    ).json()
    assert [r["digest"] for r in only["referrers"]] == [sbom]
    assert "application/spdx+json" in run("artifact", "list", ref).out
    # get by subject + type
    out = tmp_path / "out"
    run("artifact", "get", ref, "--artifact-type", "application/spdx+json", "-o", out)
    assert (out / "sbom.json").read_text() == '{"sbom": 1}'
    # the artifacts did not take the 'latest' tag
    assert run("tag", "ls", f"ocidir://{store}").out.split().count("latest") == 0


def test_artifact_subject_in_another_repository_is_refused(tmp_path: Path, store: Path) -> None:
    ref = seed(store, "v1", content.oci_image(22))
    (tmp_path / "f").write_text("x")
    res = run(
        "artifact",
        "put",
        f"ocidir://{tmp_path}/elsewhere",
        tmp_path / "f",
        "--subject",
        ref,
        expect=2,
    )
    assert_one_line_error(res, "repository")


def test_artifact_get_refuses_unsafe_titles(tmp_path: Path, store: Path) -> None:
    from ocistore.descriptor import EMPTY_DESCRIPTOR, Descriptor
    from ocistore.manifest import Manifest

    payload = b"evil"
    layer = Descriptor(
        "text/plain",
        Digest.from_bytes(payload),
        4,
        annotations={"org.opencontainers.image.title": "../escape.txt"},
    )
    manifest = Manifest.from_data(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": "x/y",
            "config": EMPTY_DESCRIPTOR.to_dict(),
            "layers": [layer.to_dict()],
        }
    )
    seed(
        store,
        "evil",
        content.Image(manifest, {layer.digest: payload, EMPTY_DESCRIPTOR.digest: b"{}"}),
    )
    res = run("artifact", "get", f"ocidir://{store}:evil", "-o", tmp_path / "out", expect=2)
    assert_one_line_error(res, "escape")
    assert not (tmp_path / "escape.txt").exists()


def test_artifact_list_without_referrers(store: Path) -> None:
    ref = seed(store, "v1", content.oci_image(23))
    assert "no referrers" in run("artifact", "list", ref).out
    assert run("artifact", "list", ref, "--format", "json").json()["referrers"] == []


# -- index --------------------------------------------------------------------------------------
def test_index_create_add_delete(tmp_path: Path, store: Path) -> None:
    amd = content.oci_image(31, platform="linux/amd64")
    arm = content.oci_image(32, platform="linux/arm64/v8")
    ppc = content.oci_image(33, platform="linux/ppc64le")
    seed(store, "amd", amd)
    seed(store, "arm", arm)
    other = seed(tmp_path / "elsewhere", "ppc", ppc)
    idx = f"ocidir://{store}:multi"
    run("index", "create", idx, ":amd", f"@{arm.digest}", "--annotation", "org.example=1")
    data = run("image", "inspect", idx, "--format", "json").json()
    assert data["mediaType"] == mt.OCI_INDEX
    assert [(p["platform"], p["digest"]) for p in data["platforms"]] == [
        ("linux/amd64", str(amd.digest)),
        ("linux/arm64/v8", str(arm.digest)),
    ]
    assert data["annotations"] == {"org.example": "1"}
    # add one from another layout: it is copied next to the index
    run("index", "add", idx, other)
    plats = [
        p["platform"] for p in run("image", "inspect", idx, "--format", "json").json()["platforms"]
    ]
    assert plats == ["linux/amd64", "linux/arm64/v8", "linux/ppc64le"]
    assert run("image", "digest", idx, "--platform", "linux/ppc64le").out.strip() == str(ppc.digest)
    # delete by platform and by digest
    run("index", "delete", idx, "--platform", "linux/arm64")
    run("index", "rm", idx, "--digest", str(amd.digest))
    plats = [
        p["platform"] for p in run("image", "inspect", idx, "--format", "json").json()["platforms"]
    ]
    assert plats == ["linux/ppc64le"]
    res = run("index", "delete", idx, "--digest", str(amd.digest), expect=1)
    assert_one_line_error(res)
    assert run("index", "delete", idx, expect=2).code == 2


def test_index_create_from_an_index_with_platform_filter(store: Path) -> None:
    multi = _multi(60)
    seed(store, "multi", multi)
    run("index", "create", f"ocidir://{store}:armonly", ":multi", "--platform", "linux/arm64")
    data = run("image", "inspect", f"ocidir://{store}:armonly", "--format", "json").json()
    assert [p["platform"] for p in data["platforms"]] == ["linux/arm64/v8"]


def test_index_add_to_a_plain_image_fails(store: Path) -> None:
    seed(store, "img", content.oci_image(61))
    res = run("index", "add", f"ocidir://{store}:img", ":img", expect=1)
    assert_one_line_error(res, "not an index")
