"""Manifest parsing: type detection order, raw-byte identity, validation errors that point."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ocistore import mediatype as mt
from ocistore.descriptor import EMPTY_DESCRIPTOR, Descriptor
from ocistore.digest import Digest
from ocistore.errors import (
    DigestMismatchError,
    ManifestInvalidError,
    NotFoundError,
    SizeLimitExceededError,
    UnsupportedMediaTypeError,
)
from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest
from ocistore.platform import Platform
from ocistore.testing.content import artifact, docker_image, docker_list, index_of, oci_image

CFG = {"mediaType": mt.OCI_CONFIG, "digest": "sha256:" + "c" * 64, "size": 10}
LAYER = {"mediaType": mt.OCI_LAYER_GZIP, "digest": "sha256:" + "1" * 64, "size": 5}


def raw(doc: dict[str, Any], indent: int | None = None) -> bytes:
    return json.dumps(doc, indent=indent).encode()


@pytest.mark.parametrize(
    ("doc", "given", "expected"),
    [
        (
            {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CFG, "layers": []},
            None,
            mt.OCI_MANIFEST,
        ),
        ({"schemaVersion": 2, "config": CFG, "layers": [LAYER]}, mt.OCI_MANIFEST, mt.OCI_MANIFEST),
        # umoci writes no mediaType: the shape and config type decide.
        ({"schemaVersion": 2, "config": CFG, "layers": [LAYER]}, None, mt.OCI_MANIFEST),
        (
            {"schemaVersion": 2, "config": {**CFG, "mediaType": mt.DOCKER_CONFIG}, "layers": []},
            mt.DOCKER_MANIFEST,
            mt.DOCKER_MANIFEST,
        ),
        ({"schemaVersion": 2, "manifests": []}, None, mt.OCI_INDEX),
        (
            {"schemaVersion": 2, "manifests": []},
            "application/vnd.oci.image.index.v1+json; charset=utf-8",
            mt.OCI_INDEX,
        ),
        (
            {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []},
            "application/json",
            mt.OCI_INDEX,
        ),
        ({"schemaVersion": 1, "name": "a", "fsLayers": []}, None, mt.DOCKER_SCHEMA1),
        ({"schemaVersion": 1, "signatures": []}, None, mt.DOCKER_SCHEMA1_SIGNED),
    ],
)
def test_media_type_detection_order(doc: dict[str, Any], given: str | None, expected: str) -> None:
    assert Manifest.from_bytes(raw(doc), media_type=given).media_type == expected


def test_body_media_type_disagreeing_with_declared_type_is_an_error() -> None:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    with pytest.raises(ManifestInvalidError, match="disagrees"):
        Manifest.from_bytes(raw(doc), media_type=mt.DOCKER_MANIFEST_LIST)


def test_raw_bytes_are_kept_and_digested_exactly() -> None:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CFG, "layers": [LAYER]}
    pretty = raw(doc, indent=3)
    m = Manifest.from_bytes(pretty)
    assert m.raw == pretty
    assert m.digest == Digest.from_bytes(pretty)
    assert m.size == len(pretty)
    assert m.digest != Manifest.from_bytes(raw(doc)).digest


def test_expected_digest_is_checked_against_the_bytes() -> None:
    body = raw({"schemaVersion": 2, "manifests": []})
    Manifest.from_bytes(body, expected_digest=Digest.from_bytes(body))
    with pytest.raises(DigestMismatchError, match="expected sha256:"):
        Manifest.from_bytes(body, expected_digest=Digest.from_bytes(b"other"))
    sha512 = Digest.from_bytes(body, "sha512")
    assert Manifest.from_bytes(body, expected_digest=sha512).digest == sha512


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"schemaVersion": 3, "mediaType": mt.OCI_INDEX, "manifests": []}, "schemaVersion"),
        (
            {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": []},
            "'config' is a required",
        ),
        (
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {**CFG, "size": -1},
                "layers": [],
            },
            "config.size",
        ),
        (
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": CFG,
                "layers": [{**LAYER, "digest": "nope"}],
            },
            "layers[0].digest",
        ),
        (
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_INDEX,
                "manifests": [],
                "annotations": {"a": 1},
            },
            "annotations.a",
        ),
        (
            {
                "schemaVersion": 2,
                "mediaType": mt.DOCKER_MANIFEST_LIST,
                "manifests": [{**CFG, "mediaType": mt.DOCKER_MANIFEST}],
            },
            "'platform' is a required",
        ),
        (
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_INDEX,
                "manifests": [{**CFG, "platform": {"os": "linux"}}],
            },
            "manifests[0].platform",
        ),
    ],
)
def test_validation_errors_point_at_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ManifestInvalidError) as info:
        Manifest.from_bytes(raw(doc))
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"not json", "not valid JSON"), (b"[1]", "not a JSON object"), (b'{"a": 1}', "cannot tell")],
)
def test_unparseable_manifests(body: bytes, message: str) -> None:
    with pytest.raises((ManifestInvalidError, UnsupportedMediaTypeError), match=message):
        Manifest.from_bytes(body)


def test_size_limit() -> None:
    with pytest.raises(SizeLimitExceededError):
        Manifest.from_bytes(b" " * (MAX_MANIFEST_SIZE + 1))


def test_unknown_fields_and_empty_layers_are_accepted() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": CFG,
        "layers": [],
        "x-custom": {"y": 1},
    }
    m = Manifest.from_bytes(raw(doc))
    assert m.layers == ()
    assert m.data["x-custom"] == {"y": 1}


def test_schema1_is_readable_but_not_writable() -> None:
    m = Manifest.from_bytes(raw({"schemaVersion": 1, "name": "a"}))
    assert m.is_schema1
    with pytest.raises(UnsupportedMediaTypeError, match="schema1"):
        m.check_writable()


def test_fields_of_each_type() -> None:
    img = oci_image("fields", layers=3)
    assert img.manifest.is_image and not img.manifest.is_index
    assert img.manifest.config is not None
    assert img.manifest.config.media_type == mt.OCI_CONFIG
    assert len(img.manifest.layers) == 3
    assert img.manifest.children() == (img.manifest.config, *img.manifest.layers)
    idx = index_of([img, oci_image("arm", platform="linux/arm64/v8")])
    assert idx.manifest.is_index
    assert [str(d.platform) for d in idx.manifest.manifests] == ["linux/amd64", "linux/arm64/v8"]
    dl = docker_list([docker_image("d1")])
    assert dl.manifest.media_type == mt.DOCKER_MANIFEST_LIST


def test_artifact_type_subject_and_referrer_descriptor() -> None:
    subject = oci_image("s").manifest.descriptor()
    art = artifact(subject, annotations={"k": "v"})
    m = art.manifest
    assert m.subject is not None and m.subject.digest == subject.digest
    assert m.artifact_type == "application/vnd.example.sbom+json"
    desc = m.referrer_descriptor()
    assert (desc.artifact_type, desc.annotations, desc.digest) == (
        m.artifact_type,
        {"k": "v"},
        m.digest,
    )
    # without artifactType the config media type stands in
    assert oci_image("x").manifest.artifact_type == mt.OCI_CONFIG
    assert m.config == EMPTY_DESCRIPTOR


def test_platform_lookup_lists_what_exists() -> None:
    idx = index_of([oci_image("a"), oci_image("b", platform="linux/arm64")]).manifest
    assert (
        idx.find_platform(Platform.parse("linux/arm64")).digest
        == oci_image("b", platform="linux/arm64").digest
    )
    with pytest.raises(NotFoundError, match=r"linux/s390x.*available: linux/amd64, linux/arm64"):
        idx.find_platform(Platform.parse("linux/s390x"))
    with pytest.raises(NotFoundError, match="not an index"):
        oci_image("c").manifest.find_platform(Platform.parse("linux/amd64"))


def test_descriptor_round_trip_keeps_unknown_fields() -> None:
    obj = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": "sha256:" + "b" * 64,
        "size": 3,
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
        "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        "data": "e30=",
        "urls": ["https://example.invalid/x"],
        "artifactType": "application/x",
        "x-vendor": [1, 2],
    }
    d = Descriptor.from_dict(obj)
    assert d.data == b"{}"
    assert d.to_dict() == obj


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"mediaType": "a/b", "size": 1}, "digest: missing"),
        ({"mediaType": "a/b", "digest": "sha256:zz", "size": 1}, "digest:"),
        ({"mediaType": "a/b", "digest": "sha256:" + "a" * 64, "size": -2}, "size"),
        ({"mediaType": "a/b", "digest": "sha256:" + "a" * 64, "size": True}, "size"),
        ({"mediaType": "a/b", "digest": "sha256:" + "a" * 64, "size": 1, "data": "!!"}, "base64"),
        ([], "expected an object"),
    ],
)
def test_descriptor_errors(obj: Any, message: str) -> None:
    with pytest.raises(ManifestInvalidError, match=message):
        Descriptor.from_dict(obj, where="layers[2]")


@pytest.mark.parametrize(
    ("want", "have", "ok"),
    [
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/arm", "linux/arm/v7", True),
        ("linux/arm/v6", "linux/arm/v7", False),
        ("linux/amd64", "linux/amd64", True),
        ("linux/amd64", "windows/amd64", False),
        ("linux/amd64", "linux/arm64", False),
    ],
)
def test_platform_matching_with_variant_defaults(want: str, have: str, ok: bool) -> None:
    assert Platform.parse(want).matches(Platform.parse(have)) is ok


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "a/b/c/d"])
def test_platform_parse_errors(text: str) -> None:
    with pytest.raises(Exception, match="invalid platform"):
        Platform.parse(text)


def test_platform_dict_round_trip() -> None:
    obj = {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.1",
        "os.features": ["win32k"],
    }
    assert Platform.from_dict(obj).to_dict() == obj
    assert Platform.host().os


@pytest.mark.parametrize("field", ["layers", "manifests", "annotations"])
@pytest.mark.parametrize(
    "media_type",
    ["application/vnd.docker.distribution.manifest.v1+json", "application/x-unknown"],
)
def test_a_list_field_of_another_type_is_an_invalid_manifest_not_a_type_error(
    field: str, media_type: str
) -> None:
    """Bodies of types that are not schema-validated may hold anything (found by hypothesis)."""
    raw = json.dumps({"schemaVersion": 1, field: 5, "fsLayers": []}).encode()
    manifest = Manifest.from_bytes(raw, media_type=media_type)
    with pytest.raises(
        ManifestInvalidError, match=rf"^{field}: expected an? (list|object), got int"
    ):
        _ = getattr(manifest, field)
