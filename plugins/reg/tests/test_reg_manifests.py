"""Manifest get/head/put/delete against the fake registry: verification and limits."""

from __future__ import annotations

import json

import pytest
from regfakes import Harness, Reply, sha256

from ocistore import mediatype as mt
from ocistore.errors import (
    DigestMismatchError,
    ManifestNotFoundError,
    MissingDigestError,
    SizeLimitExceededError,
    UnsupportedError,
    UnsupportedMediaTypeError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore.testing.content import docker_image, oci_image

ACCEPT = [mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST]


def _stored(h: Harness, tag: str = "v1") -> Manifest:
    m = oci_image("fake").manifest
    h.fake.add_manifest("a/b", m.raw, m.media_type, tag=tag)
    return m


def test_get_and_head_send_the_same_full_accept_list(harness: Harness) -> None:
    _stored(harness)
    harness.reg.manifest_get(harness.ref("a/b:v1"))
    harness.reg.manifest_head(harness.ref("a/b:v1"))
    for seen in harness.fake.seen(pattern="/manifests/"):
        assert [a.strip() for a in seen.headers["Accept"].split(",")] == ACCEPT


def test_get_returns_the_exact_bytes_and_head_the_descriptor(harness: Harness) -> None:
    m = _stored(harness)
    got = harness.reg.manifest_get(harness.ref("a/b:v1"))
    assert got.raw == m.raw
    assert got.media_type == mt.OCI_MANIFEST
    head = harness.reg.manifest_head(harness.ref("a/b:v1"))
    assert (head.media_type, head.digest, head.size) == (mt.OCI_MANIFEST, m.digest, m.size)
    assert harness.fake.seen("GET", "/manifests/v1").__len__() == 1  # HEAD needed no GET


def test_a_body_that_does_not_match_the_requested_digest_is_rejected(harness: Harness) -> None:
    m = _stored(harness)
    other = docker_image("other").manifest
    harness.fake.inject(
        "GET", "/manifests/sha256", Reply(200, other.raw, {"Content-Type": other.media_type})
    )
    with pytest.raises(DigestMismatchError, match=str(m.digest)):
        harness.reg.manifest_get(harness.ref(f"a/b@{m.digest}"))


def test_docker_content_digest_is_checked_but_never_trusted_over_the_body(
    harness: Harness,
) -> None:
    m = _stored(harness)
    lie = Reply(200, m.raw, {"Content-Type": m.media_type, "Docker-Content-Digest": sha256(b"lie")})
    harness.fake.inject("GET", "/manifests/v1", lie)
    with pytest.raises(DigestMismatchError, match="Docker-Content-Digest"):
        harness.reg.manifest_get(harness.ref("a/b:v1"))


def test_an_oversized_manifest_is_refused_on_its_content_length(harness: Harness) -> None:
    big = Reply(200, b"", {"Content-Type": mt.OCI_MANIFEST}, content_length=MAX_MANIFEST_SIZE + 1)
    harness.fake.inject("GET", "/manifests/huge", big)
    with pytest.raises(SizeLimitExceededError, match="not reading"):
        harness.reg.manifest_get(harness.ref("a/b:huge"))


def test_an_oversized_manifest_without_length_is_cut_while_reading(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ocistore_reg.manifests as manifests

    monkeypatch.setattr(manifests, "MAX_MANIFEST_SIZE", 1000)
    body = b"{" + b" " * 5000 + b"}"
    harness.fake.inject("GET", "/manifests/big", Reply(200, body, chunked=True))
    with pytest.raises(SizeLimitExceededError, match="exceeds"):
        harness.reg.manifest_get(harness.ref("a/b:big"))


def test_head_without_docker_content_digest_falls_back_to_get(harness: Harness) -> None:
    m = _stored(harness)
    bare = Reply(200, b"", {"Content-Type": m.media_type}, content_length=m.size)
    harness.fake.inject("HEAD", "/manifests/v1", bare)
    head = harness.reg.manifest_head(harness.ref("a/b:v1"))
    assert head.digest == m.digest
    assert len(harness.fake.seen("GET", "/manifests/v1")) == 1


def test_head_refused_by_the_registry_falls_back_to_get(harness: Harness) -> None:
    m = _stored(harness)
    harness.fake.inject("HEAD", "/manifests/v1", Reply(405))
    assert harness.reg.manifest_head(harness.ref("a/b:v1")).digest == m.digest


def test_missing_manifest_names_the_reference(harness: Harness) -> None:
    with pytest.raises(ManifestNotFoundError, match=r"a/b:nope"):
        harness.reg.manifest_head(harness.ref("a/b:nope"))


def test_put_sends_the_exact_bytes_with_the_media_type(harness: Harness) -> None:
    m = docker_image("put").manifest
    harness.reg.manifest_put(harness.ref("a/b:v2"), m)
    (put,) = harness.fake.seen("PUT", "/manifests/")
    assert put.path == "/v2/a/b/manifests/v2"
    assert put.body == m.raw
    assert put.headers["Content-Type"] == mt.DOCKER_MANIFEST


def test_children_and_untagged_refs_are_put_by_digest(harness: Harness) -> None:
    m = oci_image("child").manifest
    harness.reg.manifest_put(harness.ref("a/b:ignored"), m, child=True)
    harness.reg.manifest_put(harness.ref(f"a/b@{m.digest}"), m)
    assert [s.path for s in harness.fake.seen("PUT")] == [f"/v2/a/b/manifests/{m.digest}"] * 2


def test_put_refuses_a_ref_digest_that_is_not_the_manifest(harness: Harness) -> None:
    m = oci_image("x").manifest
    other = oci_image("y").manifest
    with pytest.raises(DigestMismatchError):
        harness.reg.manifest_put(harness.ref(f"a/b@{other.digest}"), m)
    assert harness.fake.seen("PUT") == []


def test_put_refuses_schema1(harness: Harness) -> None:
    schema1 = Manifest.from_bytes(
        json.dumps({"schemaVersion": 1, "name": "a/b", "tag": "v1", "fsLayers": []}).encode()
    )
    with pytest.raises(UnsupportedMediaTypeError, match="schema1"):
        harness.reg.manifest_put(harness.ref("a/b:v1"), schema1)


def test_put_checks_the_digest_the_registry_reports(harness: Harness) -> None:
    harness.fake.inject(
        "PUT", "/manifests/", Reply(201, b"", {"Docker-Content-Digest": sha256(b"else")})
    )
    with pytest.raises(DigestMismatchError, match="did not store"):
        harness.reg.manifest_put(harness.ref("a/b:v1"), oci_image("z").manifest)


def test_delete_needs_a_digest_and_removes_it(harness: Harness) -> None:
    m = _stored(harness)
    with pytest.raises(MissingDigestError):
        harness.reg.manifest_delete(harness.ref("a/b:v1"))
    harness.reg.manifest_delete(harness.ref(f"a/b@{m.digest}"))
    with pytest.raises(ManifestNotFoundError):
        harness.reg.manifest_get(harness.ref("a/b:v1"))
    with pytest.raises(ManifestNotFoundError):
        harness.reg.manifest_delete(harness.ref(f"a/b@{m.digest}"))


def test_delete_with_deletion_disabled_is_unsupported(harness: Harness) -> None:
    m = _stored(harness)
    harness.fake.delete_enabled = False
    with pytest.raises(UnsupportedError, match="405"):
        harness.reg.manifest_delete(harness.ref(f"a/b@{m.digest}"))
