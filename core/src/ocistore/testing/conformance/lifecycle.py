"""Referrers (listed, filtered, forgotten on delete) and the lifecycle calls: ``close``,
``gc_lock``, ``batch``, ``ping``."""

from __future__ import annotations

import pytest

from ocistore.errors import OCIStoreError
from ocistore.ref import Ref
from ocistore.scheme import Scheme
from ocistore.testing.conformance.fixtures import SchemeFixtures
from ocistore.testing.content import artifact, index_of, oci_image, push

__all__ = ["CloseTests", "ReferrersTests"]


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
