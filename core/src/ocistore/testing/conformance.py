"""The scheme conformance kit: the executable form of the scheme contract.

Subclass :class:`SchemeConformance` in a test module and provide two fixtures::

    class TestMyScheme(SchemeConformance):
        @pytest.fixture
        def scheme(self):
            return MyScheme(Settings())

        @pytest.fixture
        def new_repo(self, tmp_path):
            counter = itertools.count()
            return lambda: my_parse(f"my://{tmp_path}/repo{next(counter)}")

``new_repo()`` returns a fresh, empty repository reference (no tag, no digest) each call; two
calls must give two repositories of the same backend (used for mounts). The smaller classes
(:class:`BlobTests`, :class:`ManifestTests`, ...) can be subclassed one by one while a scheme is
being written. Optional abilities are checked against ``scheme.info()``: a scheme that does not
declare one must raise :class:`~ocistore.errors.UnsupportedError` for it, and one that declares it
must do it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

try:
    import pytest
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError(
        "the ocistore conformance kit needs pytest: pip install 'ocistore[testing]'"
    ) from e

from ocistore import mediatype as mt
from ocistore.digest import Digest
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    MissingDigestError,
    NotFoundError,
    OCIStoreError,
    UnsupportedError,
    UnsupportedMediaTypeError,
)
from ocistore.manifest import Manifest
from ocistore.ref import Ref
from ocistore.scheme import Scheme
from ocistore.testing.content import (
    Image,
    artifact,
    docker_image,
    docker_list,
    index_of,
    oci_image,
    push,
    random_bytes,
)

__all__ = [
    "BlobTests",
    "CloseTests",
    "ManifestTests",
    "ReferrersTests",
    "SchemeConformance",
    "SchemeFixtures",
    "TagTests",
]

NewRepo = Callable[[], Ref]


class SchemeFixtures:
    """The fixtures a conformance subclass must provide."""

    @pytest.fixture
    def scheme(self) -> Scheme:
        raise NotImplementedError("provide a `scheme` fixture returning the scheme under test")

    @pytest.fixture
    def new_repo(self) -> NewRepo:
        raise NotImplementedError(
            "provide a `new_repo` fixture returning a fresh-repository factory"
        )

    @pytest.fixture
    def repo(self, new_repo: NewRepo) -> Ref:
        return new_repo()


def _put(scheme: Scheme, ref: Ref, data: bytes) -> Digest:
    digest, size = scheme.blob_put(ref, Digest.from_bytes(data), io.BytesIO(data), len(data))
    assert size == len(data)
    return digest


class BlobTests(SchemeFixtures):
    def test_blob_round_trip_is_exact(self, scheme: Scheme, repo: Ref) -> None:
        data = random_bytes(3 * 1024 * 1024 + 17, "round-trip")
        digest = _put(scheme, repo, data)
        assert digest == Digest.from_bytes(data)
        assert scheme.blob_head(repo, digest).size == len(data)
        with scheme.blob_get(repo, digest) as reader:
            assert reader.read() == data
            assert reader.digest == digest

    def test_blob_put_without_digest_or_length_computes_them(
        self, scheme: Scheme, repo: Ref
    ) -> None:
        data = random_bytes(70_000, "unknown")
        digest, size = scheme.blob_put(repo, None, io.BytesIO(data), None)
        assert (digest, size) == (Digest.from_bytes(data), len(data))
        with scheme.blob_get(repo, digest) as reader:
            assert reader.read() == data

    def test_empty_blob_round_trip(self, scheme: Scheme, repo: Ref) -> None:
        digest = _put(scheme, repo, b"")
        assert scheme.blob_head(repo, digest).size == 0
        with scheme.blob_get(repo, digest) as reader:
            assert reader.read() == b""

    def test_blob_put_with_wrong_digest_is_rejected_and_not_stored(
        self, scheme: Scheme, repo: Ref
    ) -> None:
        data = random_bytes(4096, "claimed")
        wrong = Digest.from_bytes(b"something else")
        with pytest.raises(DigestMismatchError):
            scheme.blob_put(repo, wrong, io.BytesIO(data), len(data))
        _put(scheme, repo, b"other")  # the repository exists; the bad blob must not
        with pytest.raises(BlobNotFoundError):
            scheme.blob_head(repo, wrong)
        with pytest.raises(BlobNotFoundError):
            scheme.blob_head(repo, Digest.from_bytes(data))

    def test_missing_blob_error_names_the_digest(self, scheme: Scheme, repo: Ref) -> None:
        _put(scheme, repo, b"present")
        missing = Digest.from_bytes(b"absent")
        with pytest.raises(BlobNotFoundError, match=missing.encoded[:12]):
            scheme.blob_head(repo, missing)
        with pytest.raises(BlobNotFoundError, match=missing.encoded[:12]):
            scheme.blob_get(repo, missing).read()

    def test_blob_delete(self, scheme: Scheme, repo: Ref) -> None:
        digest = _put(scheme, repo, b"to delete")
        if not scheme.info().blob_delete:
            with pytest.raises(UnsupportedError):
                scheme.blob_delete(repo, digest)
            return
        scheme.blob_delete(repo, digest)
        with pytest.raises(BlobNotFoundError):
            scheme.blob_head(repo, digest)

    def test_blob_mount_between_repositories(self, scheme: Scheme, new_repo: NewRepo) -> None:
        source, target = new_repo(), new_repo()
        data = random_bytes(10_000, "mount")
        digest = _put(scheme, source, data)
        _put(scheme, target, b"target exists")
        if not scheme.info().blob_mount:
            with pytest.raises(UnsupportedError):
                scheme.blob_mount(source, target, digest)
            return
        scheme.blob_mount(source, target, digest)
        with scheme.blob_get(target, digest) as reader:
            assert reader.read() == data


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
        head = scheme.manifest_head(ref)
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

    def test_missing_tag_is_not_found(self, scheme: Scheme, repo: Ref) -> None:
        push(scheme, repo.with_tag("present"), oci_image("present"))
        with pytest.raises(NotFoundError, match="absent"):
            scheme.manifest_get(repo.with_tag("absent"))
        with pytest.raises(NotFoundError, match="absent"):
            scheme.manifest_head(repo.with_tag("absent"))

    def test_missing_digest_is_not_found(self, scheme: Scheme, repo: Ref) -> None:
        push(scheme, repo.with_tag("present"), oci_image("present"))
        missing = Digest.from_bytes(b"no such manifest")
        with pytest.raises(NotFoundError, match=missing.encoded[:12]):
            scheme.manifest_get(repo.with_digest(missing))
        with pytest.raises(NotFoundError, match=missing.encoded[:12]):
            scheme.manifest_head(repo.with_digest(missing))

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

    def test_manifest_delete_needs_a_digest(self, scheme: Scheme, repo: Ref) -> None:
        image = oci_image("delete")
        ref = repo.with_tag("gone")
        push(scheme, ref, image)
        with pytest.raises(MissingDigestError):
            scheme.manifest_delete(ref)
        scheme.manifest_delete(repo.with_digest(image.digest))
        with pytest.raises(NotFoundError):
            scheme.manifest_get(repo.with_digest(image.digest))
        with pytest.raises(NotFoundError):
            scheme.manifest_get(ref)


class TagTests(SchemeFixtures):
    def test_tag_list_has_every_tag(self, scheme: Scheme, repo: Ref) -> None:
        names = ["a", "b", "v1.0", "latest"]
        for i, tag in enumerate(names):
            push(scheme, repo.with_tag(tag), oci_image(f"tag-{i}"))
        assert sorted(scheme.tag_list(repo)) == sorted(names)

    def test_putting_a_tag_moves_it(self, scheme: Scheme, repo: Ref) -> None:
        first, second = oci_image("first"), oci_image("second")
        push(scheme, repo.with_tag("moving"), first)
        push(scheme, repo.with_tag("moving"), second)
        assert scheme.manifest_get(repo.with_tag("moving")).digest == second.digest
        assert scheme.manifest_get(repo.with_digest(first.digest)).digest == first.digest

    def test_tag_delete_keeps_the_manifest(self, scheme: Scheme, repo: Ref) -> None:
        image = oci_image("untag")
        push(scheme, repo.with_tag("keep"), image)
        push(scheme, repo.with_tag("drop"), image)
        if not scheme.info().tag_delete:
            with pytest.raises(UnsupportedError):
                scheme.tag_delete(repo.with_tag("drop"))
            return
        scheme.tag_delete(repo.with_tag("drop"))
        assert "drop" not in scheme.tag_list(repo)
        assert "keep" in scheme.tag_list(repo)
        with pytest.raises(NotFoundError):
            scheme.manifest_get(repo.with_tag("drop"))
        assert scheme.manifest_get(repo.with_tag("keep")).digest == image.digest

    def test_tag_delete_of_missing_tag_is_not_found(self, scheme: Scheme, repo: Ref) -> None:
        push(scheme, repo.with_tag("here"), oci_image("here"))
        if not scheme.info().tag_delete:
            return
        with pytest.raises(NotFoundError):
            scheme.tag_delete(repo.with_tag("nowhere"))


class ReferrersTests(SchemeFixtures):
    def test_referrers_are_listed_and_filtered(self, scheme: Scheme, repo: Ref) -> None:
        subject = oci_image("subject")
        push(scheme, repo.with_tag("subject"), subject)
        sbom = artifact(subject.manifest.descriptor(), annotations={"kind": "sbom"})
        sig = artifact(
            subject.manifest.descriptor(),
            artifact_type="application/vnd.example.signature",
            payload=b"signed",
        )
        for art in (sbom, sig):
            push(scheme, repo.with_digest(art.digest), art, child=True)
        found = {d.digest: d for d in scheme.referrers(repo, subject.digest)}
        assert set(found) == {sbom.digest, sig.digest}
        assert found[sbom.digest].artifact_type == "application/vnd.example.sbom+json"
        assert found[sbom.digest].annotations.get("kind") == "sbom"
        assert found[sig.digest].size == sig.manifest.size
        only = scheme.referrers(
            repo, subject.digest, artifact_type="application/vnd.example.signature"
        )
        assert [d.digest for d in only] == [sig.digest]

    def test_no_referrers_is_an_empty_list(self, scheme: Scheme, repo: Ref) -> None:
        subject = oci_image("lonely")
        push(scheme, repo.with_tag("lonely"), subject)
        assert scheme.referrers(repo, subject.digest) == []

    def test_deleting_a_referrer_removes_it(self, scheme: Scheme, repo: Ref) -> None:
        subject = oci_image("subject-del")
        push(scheme, repo.with_tag("s"), subject)
        art = artifact(subject.manifest.descriptor(), payload=b"short-lived")
        push(scheme, repo.with_digest(art.digest), art, child=True)
        assert [d.digest for d in scheme.referrers(repo, subject.digest)] == [art.digest]
        scheme.manifest_delete(repo.with_digest(art.digest))
        assert scheme.referrers(repo, subject.digest) == []


class CloseTests(SchemeFixtures):
    def test_content_survives_close(self, scheme: Scheme, repo: Ref) -> None:
        image = index_of([oci_image("close-a"), oci_image("close-b", platform="linux/arm64")])
        ref = repo.with_tag("kept")
        push(scheme, ref, image)
        scheme.close(ref)
        assert scheme.manifest_get(ref).raw == image.manifest.raw
        for child in image.children:
            for d, data in child.blobs.items():
                with scheme.blob_get(repo, d) as reader:
                    assert reader.read() == data

    def test_gc_lock_is_a_context_manager(self, scheme: Scheme, repo: Ref) -> None:
        with scheme.gc_lock(repo):
            push(scheme, repo.with_tag("locked"), oci_image("locked"))
        scheme.close(repo)
        assert scheme.manifest_head(repo.with_tag("locked")).digest == oci_image("locked").digest

    def test_batch_keeps_every_write(self, scheme: Scheme, repo: Ref) -> None:
        images = {f"b{i}": oci_image(f"batch-{i}", layers=1) for i in range(5)}
        with scheme.batch(repo):
            for tag, image in images.items():
                push(scheme, repo.with_tag(tag), image)
            assert scheme.manifest_get(repo.with_tag("b0")).digest == images["b0"].digest
        assert set(images) <= set(scheme.tag_list(repo))
        for tag, image in images.items():
            assert scheme.manifest_head(repo.with_tag(tag)).digest == image.digest

    def test_ping_answers_or_raises_the_tree(self, scheme: Scheme, repo: Ref) -> None:
        try:
            scheme.ping(repo)
        except OCIStoreError:
            pytest.fail("ping of a working backend must not raise")


class SchemeConformance(BlobTests, ManifestTests, TagTests, ReferrersTests, CloseTests):
    """Every conformance test; subclass it with the two fixtures described above."""
