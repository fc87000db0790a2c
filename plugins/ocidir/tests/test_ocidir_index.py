"""The index.json model: lookups, the tag rules, and faithful round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ocistore.digest import Digest
from ocistore.errors import LayoutError
from ocistore_ocidir.index import REF_NAME, Index, tag_of_name

D1 = str(Digest.from_bytes(b"one"))
D2 = str(Digest.from_bytes(b"two"))
D3 = str(Digest.from_bytes(b"three"))
MT = "application/vnd.oci.image.manifest.v1+json"


def entry(digest: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": MT, "digest": digest, "size": 10, **extra}
    if name is not None:
        out["annotations"] = {REF_NAME: name}
    return out


def index(*entries: dict[str, Any]) -> Index:
    return Index({"schemaVersion": 2, "manifests": list(entries)})


def state(idx: Index) -> list[tuple[str, str | None]]:
    return [(e["digest"], (e.get("annotations") or {}).get(REF_NAME)) for e in idx]


@pytest.mark.parametrize(
    ("entries", "tag", "expected"),
    [
        ([entry(D1, "v1")], "v1", D1),
        ([entry(D1, "docker.io/library/x:v1")], "v1", D1),
        # exact beats a full reference, wherever it is
        ([entry(D1, "docker.io/library/x:v1"), entry(D2, "v1")], "v1", D2),
        ([entry(D1, "example.com/a:v1"), entry(D2, "example.com/b:v1")], "v1", D1),
        ([entry(D1, "localhost:5000/x")], "5000/x", None),
        ([entry(D1, "v1")], "v2", None),
        ([entry(D1)], "latest", None),
        ([entry(D1, "v1.0")], "v1", None),
    ],
)
def test_find_tag_is_exact_then_full_reference_suffix(
    entries: list[dict[str, Any]], tag: str, expected: str | None
) -> None:
    found = index(*entries).find_tag(tag)
    assert (found["digest"] if found else None) == expected


@pytest.mark.parametrize(
    ("before", "digest", "tag", "after"),
    [
        # a new tag is appended
        ([(D1, "a")], D2, "b", [(D1, "a"), (D2, "b")]),
        # putting a tag moves it, in place; nothing else changes
        ([(D1, "a"), (D2, "b")], D3, "a", [(D3, "a"), (D2, "b")]),
        # one digest may carry many tags
        ([(D1, "a")], D1, "b", [(D1, "a"), (D1, "b")]),
        # an untagged entry of the digest becomes the tagged one
        ([(D1, None), (D2, "x")], D1, "a", [(D1, "a"), (D2, "x")]),
        # duplicates of the tag and untagged duplicates of the digest are pruned
        ([(D2, "a"), (D1, None), (D3, "a")], D1, "a", [(D1, "a")]),
        # untagged put: added once, not again, and not beside a tagged entry
        ([], D1, None, [(D1, None)]),
        ([(D1, None)], D1, None, [(D1, None)]),
        ([(D1, "a")], D1, None, [(D1, "a")]),
        # full-reference entries are never replaced (others may share the suffix)
        ([(D1, "docker.io/x:a")], D2, "a", [(D1, "docker.io/x:a"), (D2, "a")]),
    ],
)
def test_put_rules(
    before: list[tuple[str, str | None]],
    digest: str,
    tag: str | None,
    after: list[tuple[str, str | None]],
) -> None:
    idx = index(*(entry(d, n) for d, n in before))
    idx.put({"mediaType": MT, "digest": digest, "size": 1}, tag)
    assert state(idx) == after
    if tag is not None:
        assert idx.find_tag(tag)["digest"] == digest  # type: ignore[index]


@pytest.mark.parametrize(
    ("before", "tag", "removed", "after"),
    [
        ([(D1, "a"), (D2, "b")], "a", 1, [(D2, "b")]),
        ([(D1, "x.io/r:a"), (D2, "y.io/r:a"), (D3, "b")], "a", 2, [(D3, "b")]),
        ([(D1, "x.io/r:a"), (D2, "a")], "a", 1, [(D1, "x.io/r:a")]),
        ([(D1, "a")], "zzz", 0, [(D1, "a")]),
    ],
)
def test_remove_tag_exact_else_full_references(
    before: list[tuple[str, str | None]], tag: str, removed: int, after: list[Any]
) -> None:
    idx = index(*(entry(d, n) for d, n in before))
    assert idx.remove_tag(tag) == removed
    assert state(idx) == after


def test_remove_digest_removes_every_entry_even_adjacent_ones() -> None:
    idx = index(entry(D1, "a"), entry(D1, "b"), entry(D1), entry(D2, "c"), entry(D1, "d"))
    assert idx.remove_digest(D1) == 4
    assert state(idx) == [(D2, "c")]
    assert not idx.has_digest(D1)


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("v1", "v1"),
        ("docker.io/library/alpine:3.19", "3.19"),
        ("localhost:5000/x:dev", "dev"),
        ("localhost:5000/x", None),
        ("stable/foo", None),
        ("sha256-" + "a" * 64, "sha256-" + "a" * 64),
    ],
)
def test_tag_of_name(name: str, tag: str | None) -> None:
    assert tag_of_name(name) == tag


def test_tags_are_sorted_deduplicated_and_full_refs_shortened() -> None:
    idx = index(
        entry(D1, "b"),
        entry(D2, "docker.io/library/x:a"),
        entry(D3, "a"),
        entry(D1),
        entry(D2, "localhost:5000/no-tag"),
    )
    assert idx.tags() == ["a", "b"]


def test_unknown_fields_and_foreign_entries_round_trip() -> None:
    doc = {
        "schemaVersion": 2,
        "annotations": {"org.example": "kept"},
        "x-extra": [1, 2],
        "manifests": [
            entry(D1, "a", platform={"os": "linux", "architecture": "arm64"}, urls=["u"]),
            {"mediaType": "application/x-unknown", "digest": "blake3:" + "0" * 64, "size": 1},
            {"digest": D2, "size": 5, "annotations": {"io.containerd.image.name": "x"}},
        ],
    }
    idx = Index(doc)
    out = json.loads(idx.to_bytes())
    assert out == doc
    assert list(out) == list(doc)


def test_writes_compact_json_with_an_oci_index_media_type_when_new() -> None:
    raw = Index.empty().to_bytes()
    assert raw == (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"manifests": {}}', "manifests is not a list"),
        (b'{"manifests": [1]}', r"manifests\[0\] is not an object"),
    ],
)
def test_malformed_index_is_a_layout_error_naming_the_file(raw: bytes, message: str) -> None:
    with pytest.raises(LayoutError, match=message) as info:
        Index.parse(raw, "some/dir/index.json")
    assert "some/dir/index.json" in str(info.value)


def test_missing_manifests_key_is_an_empty_index() -> None:
    assert len(Index.parse(b'{"schemaVersion":2}', "x")) == 0


def test_many_puts_are_linear() -> None:
    """10k tag moves on a 10k-entry index finish quickly (dictionary lookups, no scans)."""
    idx = Index.empty()
    for i in range(10_000):
        idx.put({"mediaType": MT, "digest": str(Digest.from_bytes(b"%d" % i)), "size": 1}, f"t{i}")
    for i in range(10_000):
        idx.put({"mediaType": MT, "digest": D1, "size": 1}, f"t{i}")
    assert len(idx) == 10_000
    assert idx.find_tag("t9999")["digest"] == D1  # type: ignore[index]
