"""Referrers: the fallback tag index in index.json, the index.json scan, and their merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ocidir_testlib import index_json, names

from ocistore import mediatype as mt
from ocistore.descriptor import EMPTY_DESCRIPTOR, Descriptor
from ocistore.digest import Digest
from ocistore.manifest import Manifest
from ocistore.ref import Ref
from ocistore.testing.content import artifact, oci_image, push
from ocistore_ocidir.scheme import OCIDir


def fallback(scheme: OCIDir, layout: Ref, subject: Digest) -> list[dict[str, Any]]:
    """The manifests of the fallback index tagged ``<alg>-<hex>``, read from disk."""
    got = scheme.manifest_get(layout.with_tag(subject.referrers_tag))
    assert got.media_type == mt.OCI_INDEX
    entries: list[dict[str, Any]] = got.data["manifests"]
    return entries


def image_referrer(subject: Descriptor, seed: str) -> Manifest:
    """A referrer without artifactType whose config media type must be pulled up."""
    return Manifest.from_data(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.example.config+json",
                "digest": str(EMPTY_DESCRIPTOR.digest),
                "size": 2,
            },
            "layers": [],
            "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_dict(),
            "annotations": {"seed": seed},
        }
    )


def test_fallback_tag_records_artifact_type_and_annotations(scheme: OCIDir, layout: Ref) -> None:
    subject = oci_image("s")
    push(scheme, layout.with_tag("v1"), subject)
    sig = artifact(
        subject.manifest.descriptor(),
        artifact_type="application/x.sig",
        annotations={"org.example.k": "v"},
    )
    push(scheme, layout.with_digest(sig.digest), sig, child=True)
    other = image_referrer(subject.manifest.descriptor(), "cfg")
    scheme.manifest_put(layout.with_digest(other.digest), other, child=True)
    assert fallback(scheme, layout, subject.digest) == [
        {
            "mediaType": mt.OCI_MANIFEST,
            "digest": str(sig.digest),
            "size": sig.manifest.size,
            "annotations": {"org.example.k": "v"},
            "artifactType": "application/x.sig",
        },
        {
            "mediaType": mt.OCI_MANIFEST,
            "digest": str(other.digest),
            "size": other.size,
            "annotations": {"seed": "cfg"},
            "artifactType": "application/vnd.example.config+json",
        },
    ]
    assert names(layout) == ["v1", subject.digest.referrers_tag]


def test_putting_a_referrer_twice_records_it_once(scheme: OCIDir, layout: Ref) -> None:
    subject = oci_image("twice")
    push(scheme, layout.with_tag("v1"), subject)
    art = artifact(subject.manifest.descriptor())
    for _ in range(3):
        push(scheme, layout.with_digest(art.digest), art, child=True)
    push(scheme, layout.with_tag("tagged-too"), art)
    assert [e["digest"] for e in fallback(scheme, layout, subject.digest)] == [str(art.digest)]
    assert [d.digest for d in scheme.referrers(layout, subject.digest)] == [art.digest]


def test_deleting_the_last_referrer_deletes_the_tag(scheme: OCIDir, layout: Ref) -> None:
    subject = oci_image("last")
    push(scheme, layout.with_tag("v1"), subject)
    a = artifact(subject.manifest.descriptor(), payload=b"a")
    b = artifact(subject.manifest.descriptor(), payload=b"b")
    for art in (a, b):
        push(scheme, layout.with_digest(art.digest), art, child=True)
    scheme.manifest_delete(layout.with_digest(a.digest))
    assert [e["digest"] for e in fallback(scheme, layout, subject.digest)] == [str(b.digest)]
    scheme.manifest_delete(layout.with_digest(b.digest))
    assert names(layout) == ["v1"]
    assert scheme.referrers(layout, subject.digest) == []


def test_referrer_of_a_subject_not_in_the_layout(scheme: OCIDir, layout: Ref) -> None:
    ghost = Descriptor(mt.OCI_MANIFEST, Digest.from_bytes(b"elsewhere"), 123)
    art = artifact(ghost)
    push(scheme, layout.with_digest(art.digest), art, child=True)
    assert [d.digest for d in scheme.referrers(layout, ghost.digest)] == [art.digest]


def test_scan_finds_referrers_other_tools_put_in_index_json(scheme: OCIDir, layout: Ref) -> None:
    """ORAS-style: the referrer is an index.json entry, and nobody maintained the fallback tag."""
    subject = oci_image("scan")
    push(scheme, layout.with_tag("v1"), subject)
    art = artifact(
        subject.manifest.descriptor(), artifact_type="application/x.oras", annotations={"a": "b"}
    )
    push(scheme, layout.with_digest(art.digest), art)
    path = Path(layout.path) / "index.json"
    doc = json.loads(path.read_bytes())
    doc["manifests"] = [
        e
        for e in doc["manifests"]
        if "annotations" not in e or e["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    ]
    path.write_text(json.dumps(doc))
    assert names(layout) == ["v1", None]
    found = OCIDir().referrers(layout, subject.digest)
    assert [(d.digest, d.artifact_type, d.annotations) for d in found] == [
        (art.digest, "application/x.oras", {"a": "b"})
    ]


def test_fallback_and_scan_merge_without_duplicates_and_filter(scheme: OCIDir, layout: Ref) -> None:
    subject = oci_image("merge")
    push(scheme, layout.with_tag("v1"), subject)
    a = artifact(subject.manifest.descriptor(), artifact_type="application/x.a", payload=b"1")
    b = artifact(subject.manifest.descriptor(), artifact_type="application/x.b", payload=b"2")
    push(scheme, layout.with_tag("a-tag"), a)  # in index.json and in the fallback
    push(scheme, layout.with_digest(b.digest), b, child=True)  # fallback only
    found = scheme.referrers(layout, subject.digest)
    assert sorted(str(d.digest) for d in found) == sorted([str(a.digest), str(b.digest)])
    only_b = scheme.referrers(layout, subject.digest, artifact_type="application/x.b")
    assert [d.digest for d in only_b] == [b.digest]
    assert scheme.referrers(layout, subject.digest, artifact_type="application/x.none") == []


def test_a_broken_fallback_index_is_rebuilt(scheme: OCIDir, layout: Ref) -> None:
    subject = oci_image("broken")
    push(scheme, layout.with_tag("v1"), subject)
    a = artifact(subject.manifest.descriptor(), payload=b"a")
    push(scheme, layout.with_digest(a.digest), a, child=True)
    tag_entry = index_json(layout)["manifests"][-1]
    Path(layout.path, "blobs/sha256", tag_entry["digest"].split(":")[1]).unlink()
    assert OCIDir().referrers(layout, subject.digest) == []  # missing: empty, no error
    b = artifact(subject.manifest.descriptor(), payload=b"b")
    fresh = OCIDir()  # no cached copy of the lost index
    push(fresh, layout.with_digest(b.digest), b, child=True)
    assert [e["digest"] for e in fallback(fresh, layout, subject.digest)] == [str(b.digest)]
