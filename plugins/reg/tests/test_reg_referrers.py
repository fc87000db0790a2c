"""Referrers: the API (with and without server-side filtering) and the fallback tag."""

from __future__ import annotations

import json
from typing import Any

import pytest
from regfakes import Harness, Reply

from ocistore import mediatype as mt
from ocistore.errors import ManifestInvalidError, UnauthorizedError
from ocistore.testing.content import Image, artifact, oci_image, push

SBOM = "application/vnd.example.sbom+json"
SIG = "application/vnd.example.sig"


def _setup(h: Harness) -> tuple[Image, list[Image]]:
    subject = oci_image("subject")
    push(h.reg, h.ref("a/b:v1"), subject)
    arts = [
        artifact(subject.manifest.descriptor(), artifact_type=SBOM, payload=b'{"n":1}'),
        artifact(
            subject.manifest.descriptor(),
            artifact_type=SIG,
            payload=b'{"n":2}',
            annotations={"org.example.signer": "me"},
        ),
        artifact(subject.manifest.descriptor(), artifact_type=SBOM, payload=b'{"n":3}'),
    ]
    for art in arts:
        push(h.reg, h.ref(f"a/b@{art.digest}"), art, child=True)
    return subject, arts


def _fallback_index(h: Harness, subject: Image) -> dict[str, Any]:
    tag = subject.digest.referrers_tag
    digest = h.fake.tags["a/b"][tag]
    index: dict[str, Any] = json.loads(h.fake.manifests["a/b"][digest][1])
    return index


def test_the_api_is_used_when_the_registry_has_it(harness: Harness) -> None:
    harness.fake.referrers_api = True
    subject, arts = _setup(harness)
    found = harness.reg.referrers(harness.ref("a/b"), subject.digest)
    assert {d.digest for d in found} == {a.digest for a in arts}
    signed = next(d for d in found if d.artifact_type == SIG)
    assert signed.annotations == {"org.example.signer": "me"}
    # OCI-Subject came back on every push: no fallback tag was written
    assert subject.digest.referrers_tag not in harness.fake.tags["a/b"]


def test_server_side_filtering_is_trusted_when_announced(harness: Harness) -> None:
    harness.fake.referrers_api = True
    subject, _ = _setup(harness)
    found = harness.reg.referrers(harness.ref("a/b"), subject.digest, artifact_type=SBOM)
    assert [d.artifact_type for d in found] == [SBOM, SBOM]
    (call,) = harness.fake.seen("GET", "/referrers/")
    assert call.query["artifactType"] == [SBOM]


def test_without_oci_filters_applied_the_client_filters(harness: Harness) -> None:
    harness.fake.referrers_api = True
    harness.fake.filters_applied = False
    subject, _ = _setup(harness)
    found = harness.reg.referrers(harness.ref("a/b"), subject.digest, artifact_type=SIG)
    assert [d.artifact_type for d in found] == [SIG]


def test_api_pages_are_followed(harness: Harness) -> None:
    harness.fake.referrers_api = True
    harness.fake.referrers_page_size = 2
    subject, _ = _setup(harness)
    found = harness.reg.referrers(harness.ref("a/b"), subject.digest)
    assert len(found) == 3
    assert len(harness.fake.seen("GET", "/referrers/")) == 2


def test_without_the_api_the_client_keeps_the_fallback_tag(harness: Harness) -> None:
    subject, arts = _setup(harness)
    index = _fallback_index(harness, subject)
    assert index["mediaType"] == mt.OCI_INDEX
    assert [e["digest"] for e in index["manifests"]] == [str(a.digest) for a in arts]
    assert index["manifests"][1]["artifactType"] == SIG
    assert index["manifests"][1]["annotations"] == {"org.example.signer": "me"}
    found = harness.reg.referrers(harness.ref("a/b"), subject.digest, artifact_type=SBOM)
    assert [d.digest for d in found] == [arts[0].digest, arts[2].digest]


@pytest.mark.parametrize("api", [True, False], ids=["with-api", "distribution-2.8"])
def test_referrers_api_in_info_holds_with_and_without_the_registry_api(
    harness: Harness, api: bool
) -> None:
    """``SchemeInfo.referrers_api``: ``referrers`` answers by itself, whatever the registry
    offers, so a caller never touches the fallback tag (see its docstring in core)."""
    assert harness.reg.info().referrers_api
    harness.fake.referrers_api = api
    subject, arts = _setup(harness)
    found = harness.reg.referrers(harness.ref("a/b"), subject.digest)
    assert {d.digest for d in found} == {a.digest for a in arts}
    assert bool(harness.fake.seen("GET", "/referrers/")), "the API is always asked first"
    assert (subject.digest.referrers_tag in harness.fake.tags["a/b"]) is not api


def test_pushing_a_referrer_twice_does_not_duplicate_it(harness: Harness) -> None:
    subject, arts = _setup(harness)
    puts_before = len(harness.fake.seen("PUT", "/manifests/sha256-"))
    push(harness.reg, harness.ref(f"a/b@{arts[0].digest}"), arts[0], child=True)
    assert len(_fallback_index(harness, subject)["manifests"]) == 3
    assert len(harness.fake.seen("PUT", "/manifests/sha256-")) == puts_before


def test_api_support_is_remembered_per_repository(harness: Harness) -> None:
    subject, _ = _setup(harness)
    harness.reg.referrers(harness.ref("a/b"), subject.digest)
    harness.reg.referrers(harness.ref("a/b"), subject.digest)
    assert len(harness.fake.seen("GET", "/referrers/")) == 1


def test_no_fallback_tag_means_no_referrers(harness: Harness) -> None:
    subject = oci_image("lonely")
    push(harness.reg, harness.ref("a/b:v1"), subject)
    assert harness.reg.referrers(harness.ref("a/b"), subject.digest) == []


def test_a_fallback_tag_that_is_not_an_index_is_an_error(harness: Harness) -> None:
    subject = oci_image("s")
    push(harness.reg, harness.ref("a/b:v1"), subject)
    push(harness.reg, harness.ref(f"a/b:{subject.digest.referrers_tag}"), oci_image("junk"))
    with pytest.raises(ManifestInvalidError, match="not an OCI index"):
        harness.reg.referrers(harness.ref("a/b"), subject.digest)


def test_unauthorised_api_calls_are_not_mistaken_for_a_missing_api(harness: Harness) -> None:
    harness.fake.inject("GET", "/referrers/", Reply(401))
    with pytest.raises(UnauthorizedError):
        harness.reg.referrers(harness.ref("a/b"), oci_image("s").digest)


def test_deleting_a_referrer_takes_it_out_of_the_fallback_index(harness: Harness) -> None:
    subject, arts = _setup(harness)
    harness.reg.manifest_delete(harness.ref(f"a/b@{arts[1].digest}"))
    index = _fallback_index(harness, subject)
    assert [e["digest"] for e in index["manifests"]] == [str(arts[0].digest), str(arts[2].digest)]
    harness.reg.manifest_delete(harness.ref(f"a/b@{arts[0].digest}"))
    harness.reg.manifest_delete(harness.ref(f"a/b@{arts[2].digest}"))
    assert subject.digest.referrers_tag not in harness.fake.tags["a/b"]
    assert harness.reg.referrers(harness.ref("a/b"), subject.digest) == []


def test_deleting_a_referrer_with_the_api_leaves_tags_alone(harness: Harness) -> None:
    harness.fake.referrers_api = True
    subject, arts = _setup(harness)
    harness.reg.manifest_delete(harness.ref(f"a/b@{arts[0].digest}"))
    assert harness.fake.seen("GET", "/manifests/sha256-") == []
    found = harness.reg.referrers(harness.ref("a/b"), subject.digest)
    assert len(found) == 2
