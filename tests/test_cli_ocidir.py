"""Every verb of the installed ``ocistore`` command on OCI layouts (no server involved)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ocistore import mediatype as mt
from ocistore.digest import Digest
from ocistore.testing import content
from tests.test_cli import assert_one_line_error, run, seed


def _multi(seed_base: int = 10) -> content.Image:
    return content.index_of(
        [
            content.oci_image(seed_base, platform="linux/amd64"),
            content.oci_image(seed_base + 1, platform="linux/arm64/v8"),
        ]
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


# -- image --------------------------------------------------------------------------------------
def test_image_copy_between_layouts_keeps_the_digest(tmp_path: Path, store: Path) -> None:
    image = content.oci_image(1)
    src = seed(store, "v1", image)
    res = run("image", "copy", src, f"ocidir://{tmp_path}/dst:v1")
    assert str(image.digest) in res.out
    assert res.stderr == ""  # piped: no progress bars
    assert run("image", "digest", f"ocidir://{tmp_path}/dst:v1").out.strip() == str(image.digest)


def test_image_copy_json_reports_counts(tmp_path: Path, store: Path) -> None:
    image = content.oci_image(2)
    src = seed(store, "v1", image)
    data = run("--format", "json", "image", "copy", src, f"ocidir://{tmp_path}/dst:v1").json()
    assert data["digest"] == str(image.digest)
    # two layouts are one store: blobs are hard-linked (mounted), not copied
    assert data["blobsCopied"] + data["blobsMounted"] == len(image.blobs)
    assert data["blobsMounted"] == len(image.blobs)
    again = run("--format", "json", "image", "cp", src, f"ocidir://{tmp_path}/dst:v1").json()
    assert again["blobsCopied"] == 0
    assert (data["retries"], again["retries"]) == (0, 0)
    bad = run("image", "copy", "--attempts", "0", src, f"ocidir://{tmp_path}/dst2:v1", expect=1)
    assert "attempts" in bad.stderr


def test_image_copy_with_platform_makes_a_sparse_index(tmp_path: Path, store: Path) -> None:
    index = _multi()
    src = seed(store, "multi", index)
    dst = f"ocidir://{tmp_path}/dst:arm"
    data = run("image", "copy", "--platform", "linux/arm64", src, dst, "--format", "json").json()
    assert data["sparse"] is True
    assert data["sourceDigest"] == str(index.digest)
    inspect = run("image", "inspect", dst, "--format", "json").json()
    assert [p["platform"] for p in inspect["platforms"]] == ["linux/arm64/v8"]


def test_image_copy_referrers_and_flags(tmp_path: Path, store: Path) -> None:
    image = content.oci_image(3)
    src = seed(store, "v1", image)
    sbom = content.artifact(image.manifest.descriptor())
    content_ref = seed(store, "sbom", sbom)
    assert content_ref
    dst = f"ocidir://{tmp_path}/dst:v1"
    run("image", "copy", "--referrers", "--digest-tags", "--force-recursive", src, dst)
    listed = run("artifact", "list", dst, "--format", "json").json()
    assert [r["digest"] for r in listed["referrers"]] == [str(sbom.digest)]
    fast = run("image", "copy", "--fast", src, dst, "--format", "json").json()
    assert fast["skipped"] is True


def test_image_digest_and_inspect_of_an_index(store: Path) -> None:
    index = _multi(20)
    ref = seed(store, "multi", index)
    assert run("image", "digest", ref).out.strip() == str(index.digest)
    arm = run("image", "digest", ref, "--platform", "linux/arm64").out.strip()
    assert arm == str(index.children[1].digest)
    text = run("image", "inspect", ref).out
    assert "linux/amd64" in text
    assert "linux/arm64/v8" in text


def test_image_inspect_shows_the_config(store: Path) -> None:
    image = content.oci_image(4)
    ref = seed(store, "v1", image)
    data = run("image", "inspect", ref, "--format", "json").json()
    assert data["config"]["architecture"] == "amd64"
    assert data["config"]["config"]["Env"] == ["SEED=4"]
    text = run("image", "inspect", ref).out
    assert "platform:   linux/amd64" in text
    assert "SEED=4" in text


def test_image_inspect_with_platform_resolves_the_image(store: Path) -> None:
    ref = seed(store, "multi", _multi(30))
    data = run("image", "inspect", ref, "--platform", "linux/arm64", "--format", "json").json()
    assert data["config"]["architecture"] == "arm64"


# -- manifest -----------------------------------------------------------------------------------
def test_manifest_get_writes_the_exact_bytes(store: Path) -> None:
    image = content.oci_image(5)
    ref = seed(store, "v1", image)
    raw = run("manifest", "get", ref).stdout
    assert raw == image.manifest.raw
    assert Digest.from_bytes(raw) == image.digest


def test_manifest_get_formats(store: Path) -> None:
    image = content.oci_image(6)
    ref = seed(store, "v1", image)
    data = run("manifest", "get", ref, "--format", "json").json()
    assert data["descriptor"]["digest"] == str(image.digest)
    assert data["manifest"]["mediaType"] == mt.OCI_MANIFEST
    text = run("manifest", "get", ref, "--format", "text").out
    assert str(image.digest) in text


def test_manifest_get_platform_of_an_index(store: Path) -> None:
    index = _multi(40)
    ref = seed(store, "multi", index)
    raw = run("manifest", "get", ref, "--platform", "linux/amd64").stdout
    assert raw == index.children[0].manifest.raw


def test_manifest_head(store: Path) -> None:
    image = content.oci_image(7)
    ref = seed(store, "v1", image)
    assert run("manifest", "head", ref).out.strip() == str(image.digest)
    data = run("manifest", "head", ref, "--format", "json").json()
    assert data["size"] == image.manifest.size
    assert data["mediaType"] == mt.OCI_MANIFEST


def test_manifest_put_from_stdin_and_file(tmp_path: Path, store: Path) -> None:
    image = content.oci_image(8)
    ref = seed(store, "v1", image)
    raw = run("manifest", "get", ref).stdout
    out = run("manifest", "put", f"ocidir://{store}:copy", input=raw).out.strip()
    assert out == str(image.digest)
    path = tmp_path / "m.json"
    path.write_bytes(raw)
    run("manifest", "put", f"ocidir://{store}:fromfile", path)
    run("manifest", "put", f"ocidir://{store}@{image.digest}", path)
    data = run(
        "manifest", "put", "--by-digest", f"ocidir://{store}:ignored", path, "--format", "json"
    ).json()
    assert data["reference"].endswith(f"@{image.digest}")
    tags = run("tag", "ls", f"ocidir://{store}").out.split()
    assert "copy" in tags
    assert "fromfile" in tags
    assert "ignored" not in tags


def test_manifest_put_rejects_a_digest_mismatch(tmp_path: Path, store: Path) -> None:
    image = content.oci_image(9)
    seed(store, "v1", image)
    other = content.oci_image(99)
    res = run(
        "manifest", "put", f"ocidir://{store}@{image.digest}", input=other.manifest.raw, expect=1
    )
    assert_one_line_error(res, "digest")


def test_manifest_put_with_content_type(store: Path) -> None:
    index = _multi(50)
    seed(store, "multi", index)
    res = run(
        "manifest",
        "put",
        "--content-type",
        mt.OCI_INDEX,
        f"ocidir://{store}:again",
        input=index.manifest.raw,
    )
    assert res.out.strip() == str(index.digest)


def test_manifest_delete_needs_a_digest(store: Path) -> None:
    image = content.oci_image(11)
    ref = seed(store, "v1", image)
    res = run("manifest", "delete", ref, expect=2)
    assert_one_line_error(res, "digest")
    run("manifest", "delete", f"ocidir://{store}@{image.digest}")
    res = run("manifest", "get", ref, expect=1)
    assert_one_line_error(res, "v1")


def test_manifest_delete_force_tag_dereference(store: Path) -> None:
    ref = seed(store, "v1", content.oci_image(12))
    run("manifest", "rm", "--force-tag-dereference", ref)
    assert "v1" not in run("tag", "ls", f"ocidir://{store}").out.split()


# -- blob ---------------------------------------------------------------------------------------
def test_blob_put_get_head_delete(tmp_path: Path, store: Path) -> None:
    seed(store, "v1", content.oci_image(13))
    data = b"some blob bytes\n" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert run("blob", "put", f"ocidir://{store}", input=data).out.strip() == digest
    path = tmp_path / "b.bin"
    path.write_bytes(data)
    put = run("blob", "put", f"ocidir://{store}", path, "--digest", digest, "--format", "json")
    assert put.json() == {"reference": f"ocidir://{store}", "digest": digest, "size": len(data)}
    assert run("blob", "get", f"ocidir://{store}", digest).stdout == data
    run("blob", "get", f"ocidir://{store}", digest, "-o", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == data
    head = run("blob", "head", f"ocidir://{store}", digest, "--format", "json").json()
    assert head["size"] == len(data)
    run("blob", "delete", f"ocidir://{store}", digest)
    res = run("blob", "head", f"ocidir://{store}", digest, expect=1)
    assert_one_line_error(res, digest)


def test_blob_put_verifies_the_given_digest(store: Path) -> None:
    seed(store, "v1", content.oci_image(14))
    wrong = "sha256:" + "0" * 64
    res = run("blob", "put", f"ocidir://{store}", "--digest", wrong, input=b"abc", expect=1)
    assert_one_line_error(res)


def test_blob_copy(tmp_path: Path, store: Path) -> None:
    image = content.oci_image(15)
    seed(store, "v1", image)
    layer = image.manifest.layers[0]
    run("blob", "copy", f"ocidir://{store}", f"ocidir://{tmp_path}/other", str(layer.digest))
    got = run("blob", "get", f"ocidir://{tmp_path}/other", str(layer.digest)).stdout
    assert Digest.from_bytes(got) == layer.digest


def test_blob_get_of_a_missing_blob_names_it(store: Path) -> None:
    seed(store, "v1", content.oci_image(16))
    missing = "sha256:" + "1" * 64
    res = run("blob", "get", f"ocidir://{store}", missing, expect=1)
    assert_one_line_error(res, missing)
    assert res.stdout == b""


# -- tag, repo ----------------------------------------------------------------------------------
def test_tag_ls_filters_are_anchored(store: Path) -> None:
    image = content.oci_image(17)
    for tag in ("1.0", "1.1", "1.1-rc1", "2.0", "x1.0"):
        seed(store, tag, image)
    repo = f"ocidir://{store}"
    assert run("tag", "ls", repo).out.split() == ["1.0", "1.1", "1.1-rc1", "2.0", "x1.0"]
    assert run("tag", "ls", repo, "--include", r"1\..*").out.split() == ["1.0", "1.1", "1.1-rc1"]
    assert run("tag", "ls", repo, "--include", r"1\..*", "--exclude", ".*-rc.*").out.split() == [
        "1.0",
        "1.1",
    ]
    assert run("tag", "ls", repo, "--include", "1").out.split() == []
    assert run("tag", "ls", repo, "--format", "json").json()["tags"][0] == "1.0"


def test_tag_delete(store: Path) -> None:
    image = content.oci_image(18)
    seed(store, "a", image)
    seed(store, "b", image)
    run("tag", "delete", f"ocidir://{store}:a")
    assert run("tag", "ls", f"ocidir://{store}").out.split() == ["b"]
    res = run("tag", "rm", f"ocidir://{store}:a", expect=1)
    assert_one_line_error(res, "a")


def test_repo_ls_on_a_layout_is_unsupported(store: Path) -> None:
    seed(store, "a", content.oci_image(19))
    res = run("repo", "ls", f"ocidir://{store}", expect=1)
    assert_one_line_error(res, "repo")
