"""``image export`` / ``image import`` through the installed CLI: OCI layout tars and docker-save.

skopeo is the independent reader of what we export; it is required (a missing tool fails the
test rather than skipping it, so a green run means the check really happened).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ocistore import mediatype as mt
from ocistore.testing import content
from tests.test_cli import OCISTORE, assert_one_line_error, cli_env, run, seed

SKOPEO = "/usr/bin/skopeo"


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(SKOPEO) is None:
        pytest.fail(f"{SKOPEO} not found: install skopeo (apt-get install -y skopeo)")
    return subprocess.run([SKOPEO, *args], capture_output=True, text=True, timeout=120, check=False)


def _multi() -> content.Image:
    return content.index_of(
        [
            content.oci_image(70, platform="linux/amd64"),
            content.oci_image(71, platform="linux/arm64/v8"),
        ]
    )


# -- OCI layout tars ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image",
    [
        content.oci_image(1),
        content.docker_image(2),
        _multi(),
        content.docker_list(
            [content.docker_image(3), content.docker_image(4, platform="linux/arm64/v8")]
        ),
    ],
    ids=["oci-image", "docker-image", "oci-index", "docker-list"],
)
def test_export_import_round_trip_is_digest_exact(tmp_path: Path, image: content.Image) -> None:
    src = seed(tmp_path / "src", "v1", image)
    tar = tmp_path / "image.tar"
    res = run("image", "export", src, tar, "--format", "json").json()
    assert res["digest"] == str(image.digest)
    assert res["manifests"] == 1 + len(image.children)
    dst = f"ocidir://{tmp_path}/dst:imported"
    data = run("image", "import", dst, tar, "--format", "json").json()
    assert data["digest"] == str(image.digest)
    assert data["format"] == "oci"
    assert run("manifest", "get", dst).stdout == image.manifest.raw
    for child in image.children:
        got = run("manifest", "get", f"ocidir://{tmp_path}/dst@{child.digest}").stdout
        assert got == child.manifest.raw
    # every blob arrived intact
    for digest, blob in image.all_blobs().items():
        assert run("blob", "get", f"ocidir://{tmp_path}/dst", str(digest)).stdout == blob


def test_exported_tar_is_an_oci_layout(tmp_path: Path) -> None:
    image = content.oci_image(5)
    src = seed(tmp_path / "src", "v1", image)
    tar = tmp_path / "image.tar"
    run("image", "export", src, tar)
    with tarfile.open(tar) as t:
        names = t.getnames()
        layout = json.loads(t.extractfile("oci-layout").read())  # type: ignore[union-attr]
        index = json.loads(t.extractfile("index.json").read())  # type: ignore[union-attr]
    assert layout == {"imageLayoutVersion": "1.0.0"}
    assert index["manifests"][0]["digest"] == str(image.digest)
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    for digest in image.blobs:
        assert f"blobs/sha256/{digest.encoded}" in names


def test_skopeo_reads_the_exported_image(tmp_path: Path) -> None:
    image = content.oci_image(6)
    src = seed(tmp_path / "src", "v1", image)
    tar = tmp_path / "image.tar"
    run("image", "export", src, tar)
    proc = skopeo("inspect", f"oci-archive:{tar}")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["Digest"] == str(image.digest)
    assert info["Architecture"] == "amd64"
    assert len(info["Layers"]) == 2
    raw = skopeo("inspect", "--raw", f"oci-archive:{tar}")
    assert raw.stdout.encode() == image.manifest.raw


def test_skopeo_reads_an_exported_index(tmp_path: Path) -> None:
    index = _multi()
    src = seed(tmp_path / "src", "multi", index)
    tar = tmp_path / "index.tar"
    run("image", "export", src, tar)
    raw = skopeo("inspect", "--raw", f"oci-archive:{tar}")
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.encode() == index.manifest.raw
    one = skopeo("--override-arch", "arm64", "inspect", f"oci-archive:{tar}")
    assert one.returncode == 0, one.stderr
    info = json.loads(one.stdout)
    assert info["Architecture"] == "arm64"  # skopeo chose the arm64 image of our index
    assert info["Digest"] == str(index.digest)


def test_export_one_platform(tmp_path: Path) -> None:
    index = _multi()
    src = seed(tmp_path / "src", "multi", index)
    tar = tmp_path / "arm.tar"
    data = run("image", "export", src, tar, "--platform", "linux/arm64", "--format", "json").json()
    assert data["digest"] == str(index.children[1].digest)
    run("image", "import", f"ocidir://{tmp_path}/dst:arm", tar)
    assert run("image", "digest", f"ocidir://{tmp_path}/dst:arm").out.strip() == data["digest"]


def test_export_to_stdout_and_import_from_stdin(tmp_path: Path) -> None:
    image = content.oci_image(7)
    src = seed(tmp_path / "src", "v1", image)
    exported = run("image", "export", src, "-")
    assert exported.stdout[:512].find(b"oci-layout") >= 0
    assert "exported" in exported.stderr  # the note goes to stderr, stdout is the tar
    dst = f"ocidir://{tmp_path}/dst:piped"
    run("image", "import", dst, "-", input=exported.stdout)
    assert run("image", "digest", dst).out.strip() == str(image.digest)


def test_export_failure_leaves_no_partial_file(tmp_path: Path) -> None:
    res = run("image", "export", f"ocidir://{tmp_path}/nothing:v1", tmp_path / "x.tar", expect=1)
    assert_one_line_error(res)
    assert list(tmp_path.glob("*x.tar*")) == []


def test_import_of_a_multi_image_archive_needs_a_name(tmp_path: Path) -> None:
    a, b = content.oci_image(8), content.oci_image(9)
    tar = tmp_path / "two.tar"
    _two_image_layout_tar(tar, {"one": a, "two": b})
    res = run("image", "import", f"ocidir://{tmp_path}/dst", tar, expect=1)
    assert_one_line_error(res, "one", "two")
    assert "--name" in res.stderr
    run("image", "import", f"ocidir://{tmp_path}/dst:x", tar, "--name", "two")
    assert run("image", "digest", f"ocidir://{tmp_path}/dst:x").out.strip() == str(b.digest)
    # the target tag picks the image when it matches a name in the archive
    run("image", "import", f"ocidir://{tmp_path}/dst:one", tar)
    assert run("image", "digest", f"ocidir://{tmp_path}/dst:one").out.strip() == str(a.digest)


def _two_image_layout_tar(path: Path, images: dict[str, content.Image]) -> None:
    entries = []
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    for name, img in images.items():
        entries.append(
            img.manifest.descriptor(
                annotations={"org.opencontainers.image.ref.name": name}
            ).to_dict()
        )
        files[f"blobs/sha256/{img.digest.encoded}"] = img.manifest.raw
        for d, data in img.blobs.items():
            files[f"blobs/sha256/{d.encoded}"] = data
    files["index.json"] = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    ).encode()
    _write_tar(path, files)


def _write_tar(
    path: Path, files: dict[str, bytes], links: dict[str, str] | None = None, prefix: str = ""
) -> None:
    with tarfile.open(path, "w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(prefix + name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            t.addfile(info)


def test_import_rejects_a_tampered_blob(tmp_path: Path) -> None:
    image = content.oci_image(10)
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    files["index.json"] = json.dumps(
        {"schemaVersion": 2, "manifests": [image.manifest.descriptor().to_dict()]}
    ).encode()
    files[f"blobs/sha256/{image.digest.encoded}"] = image.manifest.raw
    for d, data in image.blobs.items():
        files[f"blobs/sha256/{d.encoded}"] = bytes([data[0] ^ 1]) + data[1:]
    tar = tmp_path / "bad.tar"
    _write_tar(tar, files)
    res = run("image", "import", f"ocidir://{tmp_path}/dst:x", tar, expect=1)
    assert_one_line_error(res, "digest")


def test_import_of_something_else_fails_clearly(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    res = run("image", "import", f"ocidir://{tmp_path}/dst:x", junk, expect=1)
    assert_one_line_error(res, "tar")
    empty = tmp_path / "empty.tar"
    _write_tar(empty, {"hello.txt": b"hi"})
    res = run("image", "import", f"ocidir://{tmp_path}/dst:x", empty, expect=1)
    assert_one_line_error(res, "docker-save")
    res = run("image", "import", f"ocidir://{tmp_path}/dst:x", tmp_path / "missing.tar", expect=1)
    assert_one_line_error(res, "missing.tar")


# -- docker save --------------------------------------------------------------------------------
def _layer(files: dict[str, bytes]) -> bytes:
    _, raw = content.layer_tar(files)
    return raw


def docker_save_tar(
    path: Path,
    *,
    repo_tags: tuple[str, ...] = ("example.com/app:1.0",),
    gzip_second: bool = False,
    corrupt: bool = False,
    dot_slash: bool = False,
) -> dict[str, object]:
    """A legacy ``docker save`` archive: ``<id>/layer.tar`` dirs, a duplicate layer symlinked."""
    one = _layer({"etc/one.txt": b"first layer\n"})
    two = _layer({"usr/two.txt": content.random_bytes(50_000, "two")})
    diff_ids = [
        "sha256:" + hashlib.sha256(one).hexdigest(),
        "sha256:" + hashlib.sha256(two).hexdigest(),
        "sha256:" + hashlib.sha256(one).hexdigest(),  # the same layer again (symlinked)
    ]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "test"}] * 3,
        },
        separators=(",", ":"),
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    stored_two = gzip.compress(two, mtime=0) if gzip_second else two
    if corrupt:
        stored_two = stored_two[:-1] + bytes([stored_two[-1] ^ 1])
    files = {
        config_name: config,
        "aaa/VERSION": b"1.0",
        "aaa/json": b"{}",
        "aaa/layer.tar": one,
        "bbb/layer.tar": stored_two,
        "manifest.json": json.dumps(
            [
                {
                    "Config": config_name,
                    "RepoTags": list(repo_tags),
                    "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"],
                }
            ]
        ).encode(),
        "repositories": b"{}",
    }
    _write_tar(
        path, files, links={"ccc/layer.tar": "../aaa/layer.tar"}, prefix="./" if dot_slash else ""
    )
    return {"config": config, "one": one, "two": stored_two, "diff_ids": diff_ids}


@pytest.mark.parametrize("gzip_second", [False, True], ids=["plain", "gzip-layer"])
def test_docker_save_import_builds_a_schema2_image(tmp_path: Path, gzip_second: bool) -> None:
    tar = tmp_path / "save.tar"
    parts = docker_save_tar(tar, gzip_second=gzip_second, dot_slash=gzip_second)
    dst = f"ocidir://{tmp_path}/dst:1.0"
    data = run("image", "import", dst, tar, "--format", "json").json()
    assert data["format"] == "docker"
    manifest = json.loads(run("manifest", "get", dst).stdout)
    assert manifest["mediaType"] == mt.DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == mt.DOCKER_CONFIG
    assert manifest["config"]["digest"] == "sha256:" + hashlib.sha256(parts["config"]).hexdigest()  # type: ignore[arg-type]
    layers = manifest["layers"]
    assert len(layers) == 3
    assert layers[0]["digest"] == layers[2]["digest"]  # the symlinked duplicate
    assert layers[0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar"
    assert layers[1]["mediaType"] == (
        mt.DOCKER_LAYER_GZIP if gzip_second else "application/vnd.docker.image.rootfs.diff.tar"
    )
    assert layers[1]["digest"] == "sha256:" + hashlib.sha256(parts["two"]).hexdigest()  # type: ignore[arg-type]
    assert (
        data["digest"] == "sha256:" + hashlib.sha256(run("manifest", "get", dst).stdout).hexdigest()
    )
    # readable as an image, and by skopeo after an export
    info = run("image", "inspect", dst, "--format", "json").json()
    assert info["config"]["config"]["Cmd"] == ["/bin/sh"]
    out = tmp_path / "again.tar"
    run("image", "export", dst, out)
    proc = skopeo("inspect", f"oci-archive:{out}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Digest"] == data["digest"]


def test_docker_save_import_checks_diff_ids(tmp_path: Path) -> None:
    tar = tmp_path / "save.tar"
    docker_save_tar(tar, corrupt=True)
    res = run("image", "import", f"ocidir://{tmp_path}/dst:1.0", tar, expect=1)
    assert_one_line_error(res, "bbb/layer.tar")
    assert (
        not (tmp_path / "dst" / "index.json").exists()
        or "1.0" not in run("tag", "ls", f"ocidir://{tmp_path}/dst").out
    )


def test_docker_save_with_several_images_selects_by_name(tmp_path: Path) -> None:
    tar = tmp_path / "save.tar"
    docker_save_tar(tar, repo_tags=("example.com/app:1.0", "example.com/app:latest"))
    run("image", "import", f"ocidir://{tmp_path}/dst:x", tar, "--name", "example.com/app:1.0")
    res = run("image", "import", f"ocidir://{tmp_path}/dst:y", tar, "--name", "nope", expect=1)
    assert_one_line_error(res, "nope", "example.com/app:1.0")


def test_docker_save_link_outside_the_archive_is_refused(tmp_path: Path) -> None:
    tar = tmp_path / "evil.tar"
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}})
    _write_tar(
        tar,
        {
            "c.json": config.encode(),
            "manifest.json": json.dumps(
                [{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]
            ).encode(),
        },
        links={"l/layer.tar": "../../../etc/passwd"},
    )
    res = run("image", "import", f"ocidir://{tmp_path}/dst:1", tar, expect=1)
    assert_one_line_error(res, "outside")


def test_new_docker_save_with_an_oci_layout_keeps_digests(tmp_path: Path) -> None:
    """Docker 25+ writes index.json and manifest.json: the OCI side wins (exact digests)."""
    image = content.oci_image(11)
    src = seed(tmp_path / "src", "v1", image)
    plain = tmp_path / "plain.tar"
    run("image", "export", src, plain)
    both = tmp_path / "both.tar"
    with tarfile.open(plain) as t_in, tarfile.open(both, "w") as t_out:
        for member in t_in.getmembers():
            t_out.addfile(member, t_in.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("manifest.json")
        body = b'[{"Config":"x","RepoTags":[],"Layers":[]}]'
        info.size = len(body)
        t_out.addfile(info, io.BytesIO(body))
    data = run("image", "import", f"ocidir://{tmp_path}/dst:v1", both, "--format", "json").json()
    assert data["format"] == "oci"
    assert data["digest"] == str(image.digest)


def test_entry_point_used_is_the_installed_one() -> None:
    # A guard for this module's premise: subprocess runs of the real script.
    assert OCISTORE.name == "ocistore"
    assert "PATH" in cli_env()
