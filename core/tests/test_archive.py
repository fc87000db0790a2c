"""ocistore.archive in-process, on the in-memory scheme: export, OCI import, docker-save import."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator

import pytest

from ocistore import mediatype as mt
from ocistore.archive import export_oci, import_archive
from ocistore.archive.tarutil import TarMembers, normalize
from ocistore.client import Client
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import (
    DigestMismatchError,
    LayoutError,
    NotFoundError,
    UnsupportedMediaTypeError,
)
from ocistore.manifest import Manifest
from ocistore.testing import content
from ocistore.testing.memory import MemoryPlugin, MemoryScheme


@pytest.fixture
def client() -> Iterator[Client]:
    MemoryScheme.reset()
    with Client(plugins=[("memory", MemoryPlugin())], autoload=False) as c:
        yield c
    MemoryScheme.reset()


def _push(client: Client, ref: str, image: content.Image) -> None:
    parsed = client.parse(ref)
    content.push(client.scheme(parsed), parsed, image)


def _export(client: Client, ref: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    export_oci(client, ref, buf, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def _tar(
    files: dict[str, bytes],
    links: dict[str, str] | None = None,
    hardlinks: dict[str, str] | None = None,
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            t.addfile(info)
        for name, target in (hardlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.LNKTYPE
            info.linkname = target
            t.addfile(info)
    return buf.getvalue()


class _Pipe(io.RawIOBase):
    """A non-seekable stream, like stdin from a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


# -- export and OCI import ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "image",
    [
        content.oci_image(1),
        content.docker_image(2),
        content.index_of([content.oci_image(3), content.oci_image(4, platform="linux/arm64")]),
        content.artifact(None),
    ],
    ids=["oci", "docker", "index", "artifact"],
)
def test_round_trip_keeps_every_byte(client: Client, image: content.Image) -> None:
    _push(client, "memory://src:v1", image)
    data = _export(client, "memory://src:v1")
    result = import_archive(client, "memory://dst:v1", io.BytesIO(data))
    assert result.digest == image.digest
    assert result.format == "oci"
    assert client.manifest_get("memory://dst:v1").raw == image.manifest.raw
    for digest, blob in image.all_blobs().items():
        with client.blob_get("memory://dst", digest) as r:
            assert r.read() == blob
    again = import_archive(client, "memory://dst:v1", io.BytesIO(data))
    assert again.blobs_pushed == 0
    assert again.blobs_skipped == len(image.all_blobs())


def test_export_is_reproducible_and_has_the_layout_files(client: Client) -> None:
    _push(client, "memory://src:v1", content.oci_image(5))
    first, second = _export(client, "memory://src:v1"), _export(client, "memory://src:v1")
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first)) as t:
        names = t.getnames()
        assert names[:2] == ["oci-layout", "index.json"]
        assert all(m.mtime == 0 and m.uid == 0 for m in t.getmembers())


def test_export_names_the_tag_and_platform_selection(client: Client) -> None:
    index = content.index_of([content.oci_image(6), content.oci_image(7, platform="linux/arm64")])
    _push(client, "memory://src:multi", index)
    data = _export(client, "memory://src:multi", platform="linux/arm64", tag="arm")
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        idx = json.loads(t.extractfile("index.json").read())  # type: ignore[union-attr]
    entry = idx["manifests"][0]
    assert entry["digest"] == str(index.children[1].digest)
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": "arm"}


def test_export_leaves_out_foreign_layers(client: Client) -> None:
    image = content.oci_image(8)
    foreign = Descriptor(
        mt.OCI_NONDIST_LAYER_GZIP, Digest.from_bytes(b"x"), 1, urls=("https://example.com/x",)
    )
    data = dict(image.manifest.data)
    data["layers"] = [*data["layers"], foreign.to_dict()]
    manifest = Manifest.from_data(data)
    _push(client, "memory://src:v1", content.Image(manifest, dict(image.blobs)))
    out = _export(client, "memory://src:v1")
    with tarfile.open(fileobj=io.BytesIO(out)) as t:
        assert f"blobs/sha256/{foreign.digest.encoded}" not in t.getnames()
    result = import_archive(client, "memory://dst:v1", io.BytesIO(out))
    assert result.digest == manifest.digest


def test_import_from_a_pipe_spools(client: Client) -> None:
    image = content.oci_image(9)
    _push(client, "memory://src:v1", image)
    data = _export(client, "memory://src:v1")
    result = import_archive(client, "memory://dst:v1", io.BufferedReader(_Pipe(data)))
    assert result.digest == image.digest


def test_import_of_a_gzipped_archive(client: Client) -> None:
    image = content.oci_image(10)
    _push(client, "memory://src:v1", image)
    data = gzip.compress(_export(client, "memory://src:v1"))
    assert import_archive(client, "memory://dst:v1", io.BytesIO(data)).digest == image.digest


def test_import_refuses_other_layout_versions(client: Client) -> None:
    data = _tar({"oci-layout": b'{"imageLayoutVersion":"2.0.0"}', "index.json": b"{}"})
    with pytest.raises(LayoutError, match="imageLayoutVersion"):
        import_archive(client, "memory://dst:v1", io.BytesIO(data))


def test_import_names_a_missing_blob(client: Client) -> None:
    image = content.oci_image(11)
    files = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": json.dumps(
            {"schemaVersion": 2, "manifests": [image.manifest.descriptor().to_dict()]}
        ).encode(),
        f"blobs/sha256/{image.digest.encoded}": image.manifest.raw,
    }
    with pytest.raises(NotFoundError, match="missing from the archive"):
        import_archive(client, "memory://dst:v1", io.BytesIO(_tar(files)))


def test_import_checks_the_manifest_digest(client: Client) -> None:
    image, other = content.oci_image(12), content.oci_image(13)
    files = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": json.dumps(
            {"schemaVersion": 2, "manifests": [image.manifest.descriptor().to_dict()]}
        ).encode(),
        f"blobs/sha256/{image.digest.encoded}": other.manifest.raw,
    }
    with pytest.raises(DigestMismatchError):
        import_archive(client, "memory://dst:v1", io.BytesIO(_tar(files)))


def test_import_selects_by_name_and_lists_choices(client: Client) -> None:
    a, b = content.oci_image(14), content.oci_image(15)
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    entries = []
    for name, img in (("docker.io/library/a:1", a), ("b", b)):
        entries.append(
            img.manifest.descriptor(
                annotations={"org.opencontainers.image.ref.name": name}
            ).to_dict()
        )
        files[f"blobs/sha256/{img.digest.encoded}"] = img.manifest.raw
        for d, blob in img.blobs.items():
            files[f"blobs/sha256/{d.encoded}"] = blob
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": entries}).encode()
    data = _tar(files)
    with pytest.raises(LayoutError, match="which one") as info:
        import_archive(client, "memory://dst", io.BytesIO(data))
    assert info.value.hint
    assert "--name" in info.value.hint
    assert import_archive(client, "memory://dst:1", io.BytesIO(data)).digest == a.digest
    assert import_archive(client, "memory://dst:x", io.BytesIO(data), name="b").digest == b.digest
    assert (
        import_archive(client, "memory://dst:x", io.BytesIO(data), name=str(a.digest)).digest
        == a.digest
    )
    with pytest.raises(NotFoundError, match="no image named"):
        import_archive(client, "memory://dst:x", io.BytesIO(data), name="zzz")


# -- docker save --------------------------------------------------------------------------------
def _docker_save(*, gzip_layer: bool = False, zstd: bool = False) -> tuple[bytes, bytes, bytes]:
    _, one = content.layer_tar({"a.txt": b"a"})
    _, two = content.layer_tar({"b.txt": content.random_bytes(4000, "b")})
    stored_two = gzip.compress(two, mtime=0) if gzip_layer else two
    if zstd:
        stored_two = b"\x28\xb5\x2f\xfd" + stored_two
    diff_ids = ["sha256:" + hashlib.sha256(x).hexdigest() for x in (one, two)]
    config = json.dumps(
        {"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    files = {
        "cfg.json": config,
        "blobs/sha256/one": one,
        "two/layer.tar": stored_two,
        "manifest.json": json.dumps(
            [
                {
                    "Config": "cfg.json",
                    "RepoTags": ["x/y:1"],
                    "Layers": ["l1/layer.tar", "two/layer.tar"],
                }
            ]
        ).encode(),
    }
    return _tar(files, links={"l1/layer.tar": "../blobs/sha256/one"}), config, stored_two


@pytest.mark.parametrize("gzip_layer", [False, True])
def test_docker_save_becomes_a_schema2_image(client: Client, gzip_layer: bool) -> None:
    data, config, two = _docker_save(gzip_layer=gzip_layer)
    result = import_archive(client, "memory://dst:1", io.BytesIO(data))
    assert result.format == "docker"
    manifest = client.manifest_get("memory://dst:1")
    assert manifest.media_type == mt.DOCKER_MANIFEST
    assert manifest.config is not None
    assert manifest.config.digest == Digest.from_bytes(config)
    assert manifest.layers[1].digest == Digest.from_bytes(two)
    assert manifest.layers[1].media_type == (
        mt.DOCKER_LAYER_GZIP if gzip_layer else "application/vnd.docker.image.rootfs.diff.tar"
    )
    with client.blob_get("memory://dst", manifest.layers[1].digest) as r:
        assert r.read() == two


def test_docker_save_zstd_layers_are_refused(client: Client) -> None:
    data, _, _ = _docker_save(zstd=True)
    with pytest.raises(UnsupportedMediaTypeError, match="zstd"):
        import_archive(client, "memory://dst:1", io.BytesIO(data))


def test_docker_save_layer_count_must_match_the_config(client: Client) -> None:
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
    data = _tar(
        {
            "c.json": config,
            "l.tar": b"x",
            "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l.tar"]}]).encode(),
        }
    )
    with pytest.raises(LayoutError, match="diff_ids"):
        import_archive(client, "memory://dst:1", io.BytesIO(data))


# -- tar member resolution ----------------------------------------------------------------------
def test_normalize() -> None:
    assert normalize("./a//b") == "a/b"
    assert normalize("/abs/x") == "abs/x"
    assert normalize("../x") is None
    assert normalize("a/../../x") is None
    assert normalize(".") is None


def test_links_are_followed_inside_the_archive_only() -> None:
    data = _tar(
        {"dir/real": b"data"},
        links={
            "a": "dir/real",
            "b": "a",
            "dir/up": "../a",
            "loop1": "loop2",
            "loop2": "loop1",
            "out": "../../etc/passwd",
            "abs": "/dir/real",
        },
        hardlinks={"hard": "dir/real"},
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        members = TarMembers(t, "test.tar")
        for name in ("a", "b", "dir/up", "hard", "abs", "./dir/real"):
            with members.open(name) as f:
                assert f.read() == b"data", name
        with pytest.raises(LayoutError, match="outside"):
            members.open("out")
        with pytest.raises(LayoutError, match="too many"):
            members.open("loop1")
        with pytest.raises(LayoutError, match="no file"):
            members.open("missing")
        assert "missing" not in members
