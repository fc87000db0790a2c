"""Copy options: platform filters (sparse indexes), referrers, digest tags."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_copy_helpers import World, stored_blobs, stored_manifests, world_fixture  # noqa: F401

from ocistore import mediatype as mt
from ocistore.copy import CopyOptions
from ocistore.errors import CopyError, NotFoundError
from ocistore.manifest import Manifest
from ocistore.platform import Platform
from ocistore.testing.content import Image, artifact, docker_image, docker_list, index_of, oci_image


def _three() -> Image:
    return index_of(
        [
            oci_image("p-amd64"),
            oci_image("p-arm64", platform="linux/arm64/v8"),
            oci_image("p-arm", platform="linux/arm/v7"),
        ],
        annotations={"org.example.kept": "yes"},
    )


# -- platforms ---------------------------------------------------------------------------------
def test_a_platform_filter_writes_a_sparse_index_of_the_kept_entries(world: World) -> None:
    image = _three()
    world.put("src://pl:v1", image)
    result = world.client.image_copy(
        "src://pl:v1", "dst://pl:v1", options=CopyOptions(platforms=("linux/arm64",))
    )
    assert result.sparse
    assert result.source_digest == image.digest
    assert result.digest != image.digest
    got = world.client.manifest_get("dst://pl:v1")
    assert got.digest == result.digest
    assert got.media_type == mt.OCI_INDEX
    original = json.loads(image.manifest.raw)
    assert got.data["manifests"] == [original["manifests"][1]]  # entry JSON untouched
    assert got.data["annotations"] == original["annotations"]
    kept = image.children[1]
    assert stored_blobs(world, "dst://pl") == set(kept.blobs)
    assert stored_manifests(world, "dst://pl") == {kept.digest, result.digest}
    # The image itself is unchanged: same digest, same bytes.
    assert world.client.manifest_get(f"dst://pl@{kept.digest}").raw == kept.manifest.raw


def test_several_platforms_and_platform_objects(world: World) -> None:
    image = _three()
    world.put("src://pm:v1", image)
    result = world.client.image_copy(
        "src://pm:v1",
        "dst://pm:v1",
        options=CopyOptions(platforms=(Platform("linux", "amd64"), "linux/arm/v7")),
    )
    got = world.client.manifest_get("dst://pm:v1")
    assert [d.digest for d in got.manifests] == [image.children[0].digest, image.children[2].digest]
    assert result.manifests_pushed == 3


def test_a_filter_that_keeps_everything_leaves_the_index_unchanged(world: World) -> None:
    image = index_of([oci_image("k-a"), oci_image("k-b", platform="linux/arm64")])
    world.put("src://pk:v1", image)
    result = world.client.image_copy(
        "src://pk:v1", "dst://pk:v1", options=CopyOptions(platforms=("linux/amd64", "linux/arm64"))
    )
    assert not result.sparse
    assert result.digest == image.digest
    assert world.client.manifest_get("dst://pk:v1").raw == image.manifest.raw


def test_a_filter_matching_nothing_fails_and_lists_what_exists(world: World) -> None:
    world.put("src://pn:v1", _three())
    with pytest.raises(CopyError, match="linux/arm/v7") as info:
        world.client.image_copy(
            "src://pn:v1", "dst://pn:v1", options=CopyOptions(platforms=("windows/amd64",))
        )
    assert isinstance(info.value.__cause__, NotFoundError)
    assert stored_manifests(world, "dst://pn") == set()


def test_a_filter_on_a_single_image_copies_it_unchanged(world: World) -> None:
    image = oci_image("single")
    world.put("src://ps:v1", image)
    result = world.client.image_copy(
        "src://ps:v1", "dst://ps:v1", options=CopyOptions(platforms=("linux/arm64",))
    )
    assert result.digest == image.digest
    assert not result.sparse


def test_a_docker_manifest_list_stays_a_docker_manifest_list(world: World) -> None:
    image = docker_list([docker_image("dl-a"), docker_image("dl-b", platform="linux/arm64")])
    world.put("src://pd:v1", image)
    result = world.client.image_copy(
        "src://pd:v1", "dst://pd:v1", options=CopyOptions(platforms=("linux/amd64",))
    )
    got = world.client.manifest_get("dst://pd:v1")
    assert result.sparse
    assert got.media_type == mt.DOCKER_MANIFEST_LIST
    assert got.data["mediaType"] == mt.DOCKER_MANIFEST_LIST
    assert [d.digest for d in got.manifests] == [image.children[0].digest]


def test_nested_indexes_are_filtered_level_by_level(world: World) -> None:
    inner = index_of([oci_image("ni-amd64"), oci_image("ni-arm64", platform="linux/arm64")])
    solo = oci_image("ni-solo", platform="linux/s390x")
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            inner.manifest.descriptor().to_dict(),  # no platform: filtered in turn
            solo.manifest.descriptor(platform=Platform("linux", "s390x")).to_dict(),
        ],
    }
    outer = Image(Manifest.from_data(data), {}, [inner, solo])
    world.put("src://nn:v1", outer)
    result = world.client.image_copy(
        "src://nn:v1", "dst://nn:v1", options=CopyOptions(platforms=("linux/arm64",))
    )
    top = world.client.manifest_get("dst://nn:v1")
    assert result.sparse
    assert len(top.manifests) == 1
    new_inner = world.client.manifest_get(f"dst://nn@{top.manifests[0].digest}")
    assert top.manifests[0].size == new_inner.size
    assert [d.digest for d in new_inner.manifests] == [inner.children[1].digest]
    assert stored_blobs(world, "dst://nn") == set(inner.children[1].blobs)
    assert (
        world.client.image_digest("dst://nn:v1", platform="linux/arm64") == inner.children[1].digest
    )


def test_an_empty_platform_keeps_entries_without_platform(world: World) -> None:
    img = oci_image("np-img")
    sbom = artifact(None, payload=b"platformless")
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            img.manifest.descriptor(platform=Platform("linux", "amd64")).to_dict(),
            sbom.manifest.descriptor().to_dict(),
        ],
    }
    index = Image(Manifest.from_data(data), {}, [img, sbom])
    world.put("src://ne:v1", index)
    without = world.client.image_copy(
        "src://ne:v1", "dst://ne:v1", options=CopyOptions(platforms=("linux/amd64",))
    )
    assert [d.digest for d in world.client.manifest_get("dst://ne:v1").manifests] == [img.digest]
    with_empty = world.client.image_copy(
        "src://ne:v1", "dst://ne:v2", options=CopyOptions(platforms=("linux/amd64", ""))
    )
    assert with_empty.digest == index.digest
    assert not with_empty.sparse
    assert without.digest != index.digest


# -- referrers ---------------------------------------------------------------------------------
def _with_referrers(world: World, path: str) -> tuple[Image, Image, Image, Image]:
    subject = index_of([oci_image(f"{path}-a"), oci_image(f"{path}-b", platform="linux/arm64")])
    sbom = artifact(subject.manifest.descriptor(), payload=f"{path} sbom".encode())
    sig = artifact(
        sbom.manifest.descriptor(),
        artifact_type="application/vnd.example.signature",
        payload=f"{path} sig of sbom".encode(),
    )
    child_att = artifact(
        subject.children[0].manifest.descriptor(),
        artifact_type="application/vnd.example.attestation",
        payload=f"{path} attestation".encode(),
    )
    world.put(f"src://{path}:v1", subject)
    for art in (sbom, sig, child_att):
        world.put(f"src://{path}@{art.digest}", art)
    return subject, sbom, sig, child_att


def test_referrers_are_copied_recursively(world: World) -> None:
    subject, sbom, sig, child_att = _with_referrers(world, "rf")
    result = world.client.image_copy(
        "src://rf:v1", "dst://rf:v1", options=CopyOptions(referrers=True)
    )
    assert result.referrers_copied == 3
    assert [d.digest for d in world.client.referrers("dst://rf:v1")] == [sbom.digest]
    assert [d.digest for d in world.client.referrers("dst://rf", digest=sbom.digest)] == [
        sig.digest
    ]
    child = subject.children[0].digest
    assert [d.digest for d in world.client.referrers("dst://rf", digest=child)] == [
        child_att.digest
    ]
    listed = world.client.referrers("dst://rf:v1")[0]
    assert listed.artifact_type == "application/vnd.example.sbom+json"
    again = world.client.image_copy(
        "src://rf:v1", "dst://rf:v1", options=CopyOptions(referrers=True)
    )
    assert (again.manifests_pushed, again.blobs_copied, again.referrers_copied) == (0, 0, 0)


def test_referrers_filtered_by_artifact_type(world: World) -> None:
    subject, _sbom, sig, child_att = _with_referrers(world, "rt")
    world.client.image_copy(
        "src://rt:v1",
        "dst://rt:v1",
        options=CopyOptions(
            referrers=True, referrers_artifact_type="application/vnd.example.attestation"
        ),
    )
    assert world.client.referrers("dst://rt:v1") == []
    child = subject.children[0].digest
    assert [d.digest for d in world.client.referrers("dst://rt", digest=child)] == [
        child_att.digest
    ]
    assert sig.digest not in stored_manifests(world, "dst://rt")


def test_referrers_are_not_copied_unless_asked(world: World) -> None:
    subject, _sbom, _sig, _child_att = _with_referrers(world, "ru")
    world.client.image_copy("src://ru:v1", "dst://ru:v1")
    assert stored_manifests(world, "dst://ru") == {
        subject.digest,
        *(c.digest for c in subject.children),
    }
    assert not world.src_log.ops("referrers")


def test_referrers_of_a_rewritten_index_are_left_behind(world: World) -> None:
    _subject, sbom, sig, child_att = _with_referrers(world, "rw")
    result = world.client.image_copy(
        "src://rw:v1",
        "dst://rw:v1",
        options=CopyOptions(referrers=True, platforms=("linux/amd64",)),
    )
    assert result.sparse
    stored = stored_manifests(world, "dst://rw")
    assert sbom.digest not in stored
    assert sig.digest not in stored
    assert child_att.digest in stored  # the kept child is unchanged, so its referrers apply


# -- digest tags -------------------------------------------------------------------------------
def test_digest_tags_are_copied_but_not_referrer_fallback_tags(world: World) -> None:
    image = oci_image("dtag")
    world.put("src://dg:v1", image)
    prefix = f"sha256-{image.digest.encoded}"
    sig = oci_image("dtag-sig", layers=1)
    att = oci_image("dtag-att", layers=1)
    fallback = index_of([artifact(image.manifest.descriptor(), payload=b"fb")])
    world.put(f"src://dg:{prefix}.sig", sig)
    world.put(f"src://dg:{prefix}.att", att)
    world.put(f"src://dg:{prefix}", fallback)
    world.put("src://dg:sha256-" + "0" * 64 + ".sig", oci_image("unrelated"))
    world.put(f"src://dg:{prefix}sig", oci_image("not-a-suffix"))
    result = world.client.image_copy(
        "src://dg:v1", "dst://dg:v1", options=CopyOptions(digest_tags=True)
    )
    assert sorted(world.client.tag_list("dst://dg")) == sorted(
        ["v1", f"{prefix}.sig", f"{prefix}.att"]
    )
    assert sorted(result.tags_copied) == sorted([f"{prefix}.sig", f"{prefix}.att"])
    assert world.client.manifest_head(f"dst://dg:{prefix}.sig").digest == sig.digest
    assert set(sig.blobs) <= stored_blobs(world, "dst://dg")


def test_a_plain_digest_tag_that_is_not_an_index_is_copied(world: World) -> None:
    image = oci_image("dplain")
    world.put("src://dp:v1", image)
    prefix = f"sha256-{image.digest.encoded}"
    world.put(f"src://dp:{prefix}", oci_image("dplain-sig", layers=1))
    world.client.image_copy("src://dp:v1", "dst://dp:v1", options=CopyOptions(digest_tags=True))
    assert sorted(world.client.tag_list("dst://dp")) == sorted(["v1", prefix])


def test_digest_tags_of_digest_tagged_content_are_followed(world: World) -> None:
    image = oci_image("dchain")
    world.put("src://dc:v1", image)
    sig = oci_image("dchain-sig", layers=1)
    world.put(f"src://dc:sha256-{image.digest.encoded}.sig", sig)
    world.put(f"src://dc:sha256-{sig.digest.encoded}.sig", oci_image("dchain-sig-sig", layers=1))
    result = world.client.image_copy(
        "src://dc:v1", "dst://dc:v1", options=CopyOptions(digest_tags=True)
    )
    assert len(result.tags_copied) == 2
