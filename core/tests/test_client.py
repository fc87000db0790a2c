"""The Client facade: routing, lazy schemes, platform resolution, referrers, blobs, close."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from test_copy_helpers import World, make_world, stored_blobs, world_fixture  # noqa: F401

from ocistore import mediatype as mt
from ocistore.client import Client
from ocistore.digest import Digest
from ocistore.errors import (
    BlobNotFoundError,
    NotFoundError,
    OCIStoreError,
    UnsupportedError,
)
from ocistore.manifest import Manifest
from ocistore.platform import Platform
from ocistore.router import Router
from ocistore.testing.content import Image, artifact, index_of, oci_image, random_bytes
from ocistore.testing.memory import MemoryPlugin


# -- routing -----------------------------------------------------------------------------------
def test_references_route_by_prefix_and_bare_ones_go_to_reg(world: World) -> None:
    assert world.client.parse("src://a:v1").scheme == "src"
    assert world.client.parse("127.0.0.1:5000/app:v1").scheme == "reg"
    ref = world.client.parse("dst://a@" + str(Digest.from_bytes(b"x")))
    assert world.client.parse(ref) is ref


def test_each_scheme_is_created_once_and_only_when_used(world: World) -> None:
    assert world.factories == {"src": 0, "dst": 0, "reg": 0}
    world.client.parse("src://lazy:v1")
    assert world.factories["src"] == 0  # parsing needs no scheme instance
    first = world.client.scheme("src://lazy:v1")
    assert world.client.scheme(world.client.parse("src://other")) is first
    world.client.info("src://x")
    assert world.factories == {"src": 1, "dst": 0, "reg": 0}


def test_a_router_and_plugins_together_are_refused() -> None:
    router = Router(plugins=[("memory", MemoryPlugin())], autoload=False)
    with pytest.raises(TypeError):
        Client(router=router, plugins=[("memory", MemoryPlugin())])
    assert Client(router=router).parse("memory://x").scheme == "memory"


def test_the_top_level_package_exports_the_client() -> None:
    import ocistore

    assert ocistore.Client is Client


def test_importing_the_client_loads_no_http_stack_even_with_ocidir_in_use(tmp_path: Any) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import ocistore
        from ocistore.client import Client, CopyOptions, CopyResult, ProgressEvent
        with Client() as c:
            ref = c.parse("ocidir://{tmp_path}/layout:v1")
            c.scheme(ref)
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("requests", "urllib3"))
        assert not bad, bad
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- manifests and platforms ---------------------------------------------------------------------
def _index(world: World, text: str) -> Image:
    image = index_of([oci_image("c-amd64"), oci_image("c-arm64", platform="linux/arm64")])
    world.put(text, image)
    return image


def test_manifest_get_with_a_platform_descends_to_the_image(world: World) -> None:
    image = _index(world, "src://mg:v1")
    assert world.client.manifest_get("src://mg:v1").digest == image.digest
    arm = world.client.manifest_get("src://mg:v1", platform="linux/arm64")
    assert arm.raw == image.children[1].manifest.raw
    amd = world.client.manifest_get("src://mg:v1", platform=Platform("linux", "amd64"))
    assert amd.digest == image.children[0].digest
    with pytest.raises(NotFoundError, match="linux/arm64"):
        world.client.manifest_get("src://mg:v1", platform="windows/amd64")


def test_a_platform_on_a_single_image_returns_that_image(world: World) -> None:
    image = oci_image("single")
    world.put("src://si:v1", image)
    assert world.client.manifest_get("src://si:v1", platform="linux/arm64").digest == image.digest


def test_nested_indexes_are_followed(world: World) -> None:
    inner = index_of([oci_image("n-amd64"), oci_image("n-arm64", platform="linux/arm64")])
    data = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [inner.manifest.descriptor().to_dict()],
    }
    outer = Image(Manifest.from_data(data), {}, [inner])
    world.put("src://ni:v1", outer)
    assert (
        world.client.manifest_get("src://ni:v1", platform="linux/arm64").digest
        == inner.children[1].digest
    )


def test_manifest_head_and_image_digest_with_and_without_platform(world: World) -> None:
    image = _index(world, "src://mh:v1")
    head = world.client.manifest_head("src://mh:v1")
    assert (head.digest, head.media_type, head.size) == (
        image.digest,
        mt.OCI_INDEX,
        image.manifest.size,
    )
    child = world.client.manifest_head("src://mh:v1", platform="linux/arm64")
    assert child.digest == image.children[1].digest
    assert child.media_type == mt.OCI_MANIFEST
    assert world.client.image_digest("src://mh:v1") == image.digest
    assert (
        world.client.image_digest("src://mh:v1", platform="linux/amd64") == image.children[0].digest
    )


def test_manifest_put_delete_and_tags(world: World) -> None:
    image = oci_image("put")
    for d, data in image.blobs.items():
        world.client.blob_put("dst://mp", io.BytesIO(data), digest=d, length=len(data))
    world.client.manifest_put("dst://mp:v1", image.manifest)
    world.client.manifest_put("dst://mp:v2", image.manifest)
    assert world.client.tag_list("dst://mp") == ["v1", "v2"]
    assert world.client.tag_list("dst://mp", limit=1) == ["v1"]
    assert world.client.tag_list("dst://mp", last="v1") == ["v2"]
    world.client.tag_delete("dst://mp:v1")
    assert world.client.tag_list("dst://mp") == ["v2"]
    world.client.manifest_delete(f"dst://mp@{image.digest}")
    with pytest.raises(NotFoundError):
        world.client.manifest_head("dst://mp:v2")
    assert "dst://mp" in world.client.repo_list("dst://mp")


# -- referrers ---------------------------------------------------------------------------------
def test_referrers_resolve_a_tag_to_its_digest_first(world: World) -> None:
    subject = oci_image("subject")
    world.put("src://rf:v1", subject)
    sbom = artifact(subject.manifest.descriptor())
    sig = artifact(subject.manifest.descriptor(), artifact_type="application/x-sig", payload=b"s")
    for art in (sbom, sig):
        world.put(f"src://rf@{art.digest}", art)
    assert {d.digest for d in world.client.referrers("src://rf:v1")} == {sbom.digest, sig.digest}
    typed = world.client.referrers("src://rf:v1", artifact_type="application/x-sig")
    assert [d.digest for d in typed] == [sig.digest]
    by_digest = world.client.referrers("src://rf", digest=subject.digest)
    assert len(by_digest) == 2
    assert world.client.referrers(f"src://rf@{sbom.digest}") == []


# -- blobs -------------------------------------------------------------------------------------
def test_blob_round_trip_and_errors(world: World) -> None:
    data = random_bytes(50_000, "client-blob")
    digest, size = world.client.blob_put("dst://bl", io.BytesIO(data))
    assert (digest, size) == (Digest.from_bytes(data), len(data))
    assert world.client.blob_head("dst://bl", str(digest)).size == len(data)
    with world.client.blob_get("dst://bl", digest, size=len(data)) as reader:
        assert reader.read() == data
    world.client.blob_delete("dst://bl", digest)
    with pytest.raises(BlobNotFoundError):
        world.client.blob_head("dst://bl", digest)


def test_blob_put_accepts_another_locations_reader(world: World) -> None:
    data = random_bytes(20_000, "relay")
    digest, _ = world.client.blob_put("src://relay", io.BytesIO(data))
    with world.client.blob_get("src://relay", digest) as reader:
        world.client.blob_put("dst://relay", reader, digest=digest, length=len(data))
    assert digest in stored_blobs(world, "dst://relay")


def test_blob_copy_streams_skips_and_mounts(world: World) -> None:
    data = random_bytes(10_000, "bcopy")
    digest, _ = world.client.blob_put("src://bc", io.BytesIO(data))
    world.client.blob_copy("src://bc", "dst://bc", digest)
    assert digest in stored_blobs(world, "dst://bc")
    world.log.calls.clear()
    world.client.blob_copy("src://bc", "dst://bc", digest, size=len(data))
    assert not world.log.ops("blob_put")  # already there
    world.client.blob_put("127.0.0.1:5000/a/b", io.BytesIO(data))
    world.client.blob_copy("127.0.0.1:5000/a/b", "127.0.0.1:5000/c/d", digest)
    assert world.log.ops("blob_mount")


def test_blob_mount_needs_one_scheme(world: World) -> None:
    digest, _ = world.client.blob_put("src://m1", io.BytesIO(b"mount me"))
    with pytest.raises(UnsupportedError, match="within one scheme") as info:
        world.client.blob_mount("src://m1", "dst://m1", digest)
    assert info.value.hint == "use blob copy instead"


# -- closing -----------------------------------------------------------------------------------
def test_close_closes_written_locations_then_read_ones_and_drops_schemes(world: World) -> None:
    world.put("127.0.0.1:5000/read/app:v1", oci_image("close"))
    world.client.image_copy("127.0.0.1:5000/read/app:v1", "127.0.0.1:5000/written/app:v1")
    world.log.calls.clear()
    world.client.close()
    closed = [c[1] for c in world.log.ops("close")]
    assert closed == ["127.0.0.1:5000/written/app", "127.0.0.1:5000/read/app"]
    world.client.close()
    assert len(world.log.ops("close")) == 2  # nothing left to close
    world.client.scheme("127.0.0.1:5000/x")
    assert world.factories["reg"] == 2  # recreated after close


def test_close_of_one_reference(world: World) -> None:
    world.client.blob_put("127.0.0.1:5000/one/app", io.BytesIO(b"a"))
    world.client.blob_put("127.0.0.1:5000/two/app", io.BytesIO(b"b"))
    world.client.close("127.0.0.1:5000/one/app:v1")
    assert [c[1] for c in world.log.ops("close")] == ["127.0.0.1:5000/one/app:v1"]
    world.client.close()
    assert [c[1] for c in world.log.ops("close")][1:] == ["127.0.0.1:5000/two/app"]


def test_the_context_manager_closes_and_every_location_is_closed_despite_errors() -> None:
    w = make_world()
    failures: list[str] = []

    def failing_close(self: Any, ref: Any) -> None:
        failures.append(str(ref))
        raise OCIStoreError(f"cannot close {ref}")

    with w.client as client:
        client.blob_put("dst://x1", io.BytesIO(b"1"))
        client.blob_put("dst://x2", io.BytesIO(b"2"))
        scheme = client.scheme("dst://x1")
        scheme.close = failing_close.__get__(scheme)  # type: ignore[method-assign]
        with pytest.raises(OCIStoreError, match="cannot close dst://x1") as info:
            client.close()
    assert failures == ["dst://x1", "dst://x2"]
    assert any("dst://x2" in note for note in info.value.__notes__)


def test_batch_and_gc_lock_reach_the_scheme(tmp_path: Path) -> None:
    """Client.batch groups index writes in a layout; gc_lock keeps loose blobs through close."""
    from ocistore.testing.content import oci_image

    layout = f"ocidir://{tmp_path}/lay"
    images = {f"t{i}": oci_image(f"batch-{i}", layers=1) for i in range(4)}
    with Client() as client:
        with client.batch(layout):
            for tag, image in images.items():
                for d, data in image.blobs.items():
                    client.blob_put(layout, io.BytesIO(data), digest=d, length=len(data))
                client.manifest_put(f"{layout}:{tag}", image.manifest)
            index = (tmp_path / "lay" / "index.json").read_text()
            assert "t3" not in index  # not flushed yet: one write at the end of the batch
        assert sorted(client.tag_list(layout)) == sorted(images)
        loose = b"a blob no manifest references yet"
        with client.gc_lock(layout):
            d, _ = client.blob_put(layout, io.BytesIO(loose))
            client.close(layout)  # GC runs, but must not take the blob while the lock is held
            assert client.blob_head(layout, d).size == len(loose)
