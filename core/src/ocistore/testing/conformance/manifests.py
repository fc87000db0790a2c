"""Manifest rules: byte-exact storage, reads that verify, which manifests get tags (a default
for a reference with neither tag nor digest, none for ``child`` or by-digest puts), and the
error type for each missing thing."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from ocistore import mediatype as mt
from ocistore.digest import Digest
from ocistore.errors import (
    DigestMismatchError,
    ManifestNotFoundError,
    MissingDigestError,
    NotFoundError,
    UnsupportedMediaTypeError,
)
from ocistore.manifest import Manifest
from ocistore.ref import Ref
from ocistore.scheme import Scheme
from ocistore.testing.conformance.fixtures import NewRepo, SchemeFixtures, Tamper, need
from ocistore.testing.content import Image, docker_image, docker_list, index_of, oci_image, push

__all__ = ["ManifestTests"]

_IMAGE_MAKERS: dict[str, Callable[[], Image]] = {
    "oci-image": lambda: oci_image("conf-oci"),
    "docker-image": lambda: docker_image("conf-docker"),
    "oci-index": lambda: index_of(
        [oci_image("conf-a", platform="linux/amd64"), oci_image("conf-b", platform="linux/arm64")]
    ),
    "docker-list": lambda: docker_list(
        [
            docker_image("conf-c", platform="linux/amd64"),
            docker_image("conf-d", platform="linux/arm/v7"),
        ]
    ),
}


class ManifestTests(SchemeFixtures):
    @pytest.fixture(params=sorted(_IMAGE_MAKERS))
    def image(self, request: pytest.FixtureRequest) -> Image:
        return _IMAGE_MAKERS[request.param]()

    def test_manifest_round_trip_is_byte_exact(
        self, scheme: Scheme, repo: Ref, image: Image
    ) -> None:
        ref = repo.with_tag("v1")
        push(scheme, ref, image)
        got = scheme.manifest_get(ref)
        assert got.raw == image.manifest.raw
        assert got.media_type == image.manifest.media_type
        assert got.digest == image.digest
        by_digest = scheme.manifest_get(repo.with_digest(image.digest))
        assert by_digest.raw == image.manifest.raw

    def test_manifest_head_matches_get(self, scheme: Scheme, repo: Ref, image: Image) -> None:
        ref = repo.with_tag("head")
        push(scheme, ref, image)
        for where in (ref, repo.with_digest(image.digest)):
            head = scheme.manifest_head(where)
            assert head.digest == image.digest
            assert head.size == image.manifest.size
            assert head.media_type == image.manifest.media_type

    def test_child_manifests_are_reachable_by_digest(self, scheme: Scheme, repo: Ref) -> None:
        image = index_of([oci_image("child-a"), oci_image("child-b", platform="linux/arm64")])
        push(scheme, repo.with_tag("parent"), image)
        for child in image.children:
            got = scheme.manifest_get(repo.with_digest(child.digest))
            assert got.raw == child.manifest.raw
            assert scheme.manifest_head(repo.with_digest(child.digest)).digest == child.digest

    def test_child_and_by_digest_manifests_get_no_tag(self, scheme: Scheme, repo: Ref) -> None:
        """``child=True`` and a put by digest store the manifest untagged: the only tag is the
        one the parent was pushed to."""
        image = index_of([oci_image("untagged-a"), oci_image("untagged-b", layers=1)])
        push(scheme, repo.with_tag("parent"), image)
        loose = oci_image("by-digest-only", layers=1)
        for d, data in loose.blobs.items():
            scheme.blob_put(repo, d, io.BytesIO(data), len(data))
        scheme.manifest_put(repo.with_digest(loose.digest), loose.manifest)
        assert scheme.tag_list(repo) == ["parent"]

    def test_a_reference_without_tag_or_digest_is_stored_as_latest(
        self, scheme: Scheme, new_repo: NewRepo
    ) -> None:
        """The default tag: a put to a reference with neither tag nor digest tags ``latest``
        (registry references already carry ``latest`` from parsing)."""
        repo = new_repo()
        assert repo.digest is None
        assert repo.tag in ("", "latest")
        image = oci_image("default-tag", layers=1)
        push(scheme, repo, image)
        assert scheme.tag_list(repo) == ["latest"]
        assert scheme.manifest_get(repo.with_tag("latest")).digest == image.digest

    def test_manifest_get_verifies_what_was_stored(
        self, scheme: Scheme, repo: Ref, tamper: Tamper | None
    ) -> None:
        """A stored manifest changed behind the scheme's back fails the read, by digest and by
        tag (the tag says which digest it points at)."""
        tampering = need(tamper, "tamper", "that manifest reads verify their content")
        image = oci_image("rotting", layers=1, annotations={"state": "aaaa"})
        push(scheme, repo.with_tag("rot"), image)
        changed = image.manifest.raw.replace(b'"aaaa"', b'"bbbb"')
        assert len(changed) == image.manifest.size
        assert changed != image.manifest.raw
        tampering.manifest(repo, image.digest, changed)
        with pytest.raises(DigestMismatchError):
            scheme.manifest_get(repo.with_digest(image.digest))
        with pytest.raises(DigestMismatchError):
            scheme.manifest_get(repo.with_tag("rot"))

    def test_missing_tag_is_manifest_not_found(self, scheme: Scheme, repo: Ref) -> None:
        push(scheme, repo.with_tag("present"), oci_image("present"))
        with pytest.raises(ManifestNotFoundError, match="absent"):
            scheme.manifest_get(repo.with_tag("absent"))
        with pytest.raises(ManifestNotFoundError, match="absent"):
            scheme.manifest_head(repo.with_tag("absent"))

    def test_missing_digest_is_manifest_not_found(self, scheme: Scheme, repo: Ref) -> None:
        push(scheme, repo.with_tag("present"), oci_image("present"))
        missing = Digest.from_bytes(b"no such manifest")
        with pytest.raises(ManifestNotFoundError, match=missing.encoded[:12]):
            scheme.manifest_get(repo.with_digest(missing))
        with pytest.raises(ManifestNotFoundError, match=missing.encoded[:12]):
            scheme.manifest_head(repo.with_digest(missing))

    def test_manifest_in_a_missing_repository_is_not_found(
        self, scheme: Scheme, missing_repo: Ref
    ) -> None:
        never = missing_repo
        with pytest.raises(NotFoundError):
            scheme.manifest_get(never.with_tag("latest"))
        with pytest.raises(NotFoundError):
            scheme.manifest_head(never.with_digest(Digest.from_bytes(b"x")))

    def test_put_by_digest_checks_the_digest(self, scheme: Scheme, repo: Ref) -> None:
        image = oci_image("by-digest")
        for d, data in image.blobs.items():
            scheme.blob_put(repo, d, io.BytesIO(data), len(data))
        with pytest.raises(DigestMismatchError):
            scheme.manifest_put(repo.with_digest(Digest.from_bytes(b"wrong")), image.manifest)
        scheme.manifest_put(repo.with_digest(image.digest), image.manifest, child=True)
        assert scheme.manifest_get(repo.with_digest(image.digest)).raw == image.manifest.raw

    def test_schema1_is_refused_for_writing(self, scheme: Scheme, repo: Ref) -> None:
        body: dict[str, Any] = {
            "schemaVersion": 1,
            "name": "x/y",
            "tag": "old",
            "architecture": "amd64",
            "fsLayers": [],
            "history": [],
        }
        old = Manifest.from_bytes(json.dumps(body).encode())
        assert old.media_type == mt.DOCKER_SCHEMA1
        with pytest.raises(UnsupportedMediaTypeError):
            scheme.manifest_put(repo.with_tag("old"), old)

    def test_manifest_delete_needs_a_digest_and_takes_its_tags(
        self, scheme: Scheme, repo: Ref
    ) -> None:
        image = oci_image("delete")
        ref = repo.with_tag("gone")
        push(scheme, repo.with_tag("other"), oci_image("stays", layers=1))
        push(scheme, ref, image)
        with pytest.raises(MissingDigestError):
            scheme.manifest_delete(ref)
        scheme.manifest_delete(repo.with_digest(image.digest))
        with pytest.raises(ManifestNotFoundError):
            scheme.manifest_get(repo.with_digest(image.digest))
        with pytest.raises(NotFoundError):
            scheme.manifest_get(ref)
        assert scheme.tag_list(repo) == ["other"]
        with pytest.raises(ManifestNotFoundError):
            scheme.manifest_delete(repo.with_digest(image.digest))
