"""Tags: listing (full references, fallback tags, paging) and deletion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocidir_testlib import names

from ocistore.errors import MissingTagError, TagNotFoundError
from ocistore.ref import Ref
from ocistore.testing.content import oci_image, push
from ocistore_ocidir.scheme import OCIDir


def add_entry(ref: Ref, name: str, digest: str, size: int) -> None:
    path = Path(ref.path) / "index.json"
    doc = json.loads(path.read_bytes())
    doc["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": name},
        }
    )
    path.write_text(json.dumps(doc))


def test_tag_list_sorted_with_full_refs_shortened(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("t")
    for tag in ["zeta", "alpha", "v1.2"]:
        push(scheme, layout.with_tag(tag), image)
    add_entry(layout, "docker.io/library/busybox:stable", str(image.digest), image.manifest.size)
    add_entry(layout, "docker.io/library/other:alpha", str(image.digest), image.manifest.size)
    assert scheme.tag_list(layout) == ["alpha", "stable", "v1.2", "zeta"]
    assert scheme.manifest_get(layout.with_tag("stable")).digest == image.digest


@pytest.mark.parametrize(
    ("last", "limit", "expected"),
    [
        (None, None, ["a", "b", "c", "d"]),
        ("b", None, ["c", "d"]),
        (None, 2, ["a", "b"]),
        ("a", 2, ["b", "c"]),
        ("d", None, []),
        (None, 0, []),
    ],
)
def test_tag_list_pages_like_a_registry(
    scheme: OCIDir, layout: Ref, last: str | None, limit: int | None, expected: list[str]
) -> None:
    image = oci_image("page")
    for tag in "dcba":
        push(scheme, layout.with_tag(tag), image)
    assert scheme.tag_list(layout, last=last, limit=limit) == expected


def test_tag_list_of_an_empty_layout(scheme: OCIDir, layout: Ref) -> None:
    import io

    scheme.blob_put(layout, None, io.BytesIO(b"x"), 1)
    assert scheme.tag_list(layout) == []


def test_tag_delete_removes_only_that_tag(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("del")
    for tag in ["a", "b", "c"]:
        push(scheme, layout.with_tag(tag), image)
    scheme.tag_delete(layout.with_tag("b"))
    assert names(layout) == ["a", "c"]


def test_tag_delete_of_a_full_reference(scheme: OCIDir, layout: Ref) -> None:
    image = oci_image("full")
    push(scheme, layout.with_tag("keep"), image)
    add_entry(layout, "example.com/app:1.0", str(image.digest), image.manifest.size)
    scheme.tag_delete(layout.with_tag("1.0"))
    assert names(layout) == ["keep"]


def test_tag_delete_errors(scheme: OCIDir, layout: Ref) -> None:
    push(scheme, layout.with_tag("a"), oci_image("e"))
    with pytest.raises(TagNotFoundError, match="'nope'"):
        scheme.tag_delete(layout.with_tag("nope"))
    with pytest.raises(MissingTagError):
        scheme.tag_delete(layout)
    assert names(layout) == ["a"]
