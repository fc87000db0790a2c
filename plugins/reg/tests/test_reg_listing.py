"""Tag lists, tag deletion and the catalog against the fake registry."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from regfakes import Harness, Reply, error

from ocistore import mediatype as mt
from ocistore.errors import (
    RegistryError,
    RepositoryNotFoundError,
    TagNotFoundError,
    UnsupportedError,
)
from ocistore.testing.content import Image, docker_image, oci_image


def _tags(h: Harness, names: list[str], repo: str = "a/b") -> None:
    m = oci_image("tags").manifest
    for name in names:
        h.fake.add_manifest(repo, m.raw, m.media_type, tag=name)


# -- tag list -----------------------------------------------------------------------------------


def test_tag_list_follows_relative_link_pages(harness: Harness) -> None:
    names = [f"t{i:02d}" for i in range(7)]
    _tags(harness, names)
    harness.fake.tag_page_size = 3
    assert harness.reg.tag_list(harness.ref("a/b")) == names
    pages = harness.fake.seen("GET", "/tags/list")
    assert [p.query.get("last") for p in pages] == [None, ["t02"], ["t05"]]


def test_tag_list_limit_and_last(harness: Harness) -> None:
    names = [f"t{i:02d}" for i in range(7)]
    _tags(harness, names)
    harness.fake.tag_page_size = 2
    assert harness.reg.tag_list(harness.ref("a/b"), limit=3) == ["t00", "t01", "t02"]
    assert harness.reg.tag_list(harness.ref("a/b"), last="t04") == ["t05", "t06"]
    assert harness.reg.tag_list(harness.ref("a/b"), limit=0) == []
    first = harness.fake.seen("GET", "/tags/list")[0]
    assert first.query["n"] == ["3"]


def test_tag_list_makes_up_for_registries_that_ignore_n_last_and_order(harness: Harness) -> None:
    _tags(harness, ["b", "c", "a", "d"])
    harness.fake.tags_sorted = False
    harness.fake.inject(
        "GET",
        "/tags/list",
        lambda s: Reply(200, json.dumps({"name": "a/b", "tags": ["d", "b", "c", "a"]}).encode()),
        times=None,
    )
    assert harness.reg.tag_list(harness.ref("a/b")) == ["a", "b", "c", "d"]
    assert harness.reg.tag_list(harness.ref("a/b"), limit=2) == ["a", "b"]
    assert harness.reg.tag_list(harness.ref("a/b"), last="b", limit=1) == ["c"]


def test_tag_list_accepts_text_plain_and_null_tags(harness: Harness) -> None:
    plain = Reply(200, b'{"name":"a/b","tags":["x"]}', {"Content-Type": "text/plain"})
    harness.fake.inject("GET", "/tags/list", plain)
    assert harness.reg.tag_list(harness.ref("a/b")) == ["x"]
    harness.fake.inject("GET", "/tags/list", Reply(200, b'{"name":"a/b","tags":null}'))
    assert harness.reg.tag_list(harness.ref("a/b")) == []
    harness.fake.inject("GET", "/tags/list", Reply(200, b'{"name":"a/b"}'))
    assert harness.reg.tag_list(harness.ref("a/b")) == []


def test_tag_list_rejects_garbage(harness: Harness) -> None:
    harness.fake.inject("GET", "/tags/list", Reply(200, b"<html>hello</html>"))
    with pytest.raises(RegistryError, match="not JSON"):
        harness.reg.tag_list(harness.ref("a/b"))


def test_tag_list_of_a_missing_repository(harness: Harness) -> None:
    with pytest.raises(RepositoryNotFoundError, match=r"a/nope.*NAME_UNKNOWN"):
        harness.reg.tag_list(harness.ref("a/nope"))


def test_a_link_cycle_ends_with_an_error(harness: Harness) -> None:
    """A loop means the registry is broken: the names so far could pass for the whole list."""
    loop = Reply(200, b'{"tags":["x"]}', {"Link": '</v2/a/b/tags/list>; rel="next"'})
    harness.fake.inject("GET", "/tags/list", loop, times=None)
    with pytest.raises(RegistryError, match="pagination loops back to"):
        harness.reg.tag_list(harness.ref("a/b"))
    assert len(harness.fake.seen("GET", "/tags/list")) == 1


# -- tag delete ---------------------------------------------------------------------------------


def test_tag_delete_uses_delete_by_tag_when_the_registry_has_it(harness: Harness) -> None:
    _tags(harness, ["keep", "drop"])
    harness.fake.tag_delete_supported = True
    harness.reg.tag_delete(harness.ref("a/b:drop"))
    assert harness.reg.tag_list(harness.ref("a/b")) == ["keep"]
    assert harness.fake.seen("PUT") == []


@pytest.mark.parametrize("make", [oci_image, docker_image])
def test_tag_delete_falls_back_to_a_dummy_manifest(
    harness: Harness, make: Callable[[str], Image]
) -> None:
    image = make("orig")
    harness.fake.add_manifest("a/b", image.manifest.raw, image.manifest.media_type, tag="drop")
    harness.fake.add_manifest("a/b", image.manifest.raw, image.manifest.media_type, tag="keep")
    harness.reg.tag_delete(harness.ref("a/b:drop"))
    assert harness.reg.tag_list(harness.ref("a/b")) == ["keep"]
    # the original manifest is untouched and still reachable through the other tag
    assert harness.reg.manifest_get(harness.ref("a/b:keep")).raw == image.manifest.raw
    dummy_puts = [s for s in harness.fake.seen("PUT", "/manifests/")]
    assert len(dummy_puts) == 2  # untagged probe, then over the tag
    assert dummy_puts[1].path == "/v2/a/b/manifests/drop"
    dummy = json.loads(dummy_puts[1].body)
    assert dummy["mediaType"] == image.manifest.media_type
    assert len(dummy["layers"]) == 1


def test_two_dummies_for_one_tag_differ(harness: Harness) -> None:
    from ocistore_reg.tags import dummy_image

    assert dummy_image("t", docker=False)[1].digest != dummy_image("t", docker=False)[1].digest
    assert dummy_image("t", docker=True)[1].media_type == mt.DOCKER_MANIFEST


def test_tag_delete_with_deletion_disabled_leaves_the_tag_alone(harness: Harness) -> None:
    image = oci_image("orig")
    harness.fake.add_manifest("a/b", image.manifest.raw, image.manifest.media_type, tag="t")
    harness.fake.inject("DELETE", "/manifests/", error(405, "UNSUPPORTED"), times=None)
    with pytest.raises(UnsupportedError, match="unchanged") as info:
        harness.reg.tag_delete(harness.ref("a/b:t"))
    assert info.value.hint is not None
    assert harness.reg.manifest_get(harness.ref("a/b:t")).raw == image.manifest.raw


def test_deleting_a_missing_tag(harness: Harness) -> None:
    _tags(harness, ["other"])
    with pytest.raises(TagNotFoundError, match="a/b:nope"):
        harness.reg.tag_delete(harness.ref("a/b:nope"))
    harness.fake.tag_delete_supported = True
    with pytest.raises(TagNotFoundError):
        harness.reg.tag_delete(harness.ref("a/b:nope"))


# -- catalog ------------------------------------------------------------------------------------


def test_catalog_follows_pages(harness: Harness) -> None:
    for i in range(5):
        _tags(harness, ["v"], repo=f"r{i}/x")
    harness.fake.catalog_page_size = 2
    assert harness.reg.repo_list(harness.ref("any")) == [f"r{i}/x" for i in range(5)]
    assert len(harness.fake.seen("GET", "/_catalog")) == 3
    assert harness.reg.repo_list(harness.ref("any"), limit=3, last="r0/x") == [
        "r1/x",
        "r2/x",
        "r3/x",
    ]
    assert harness.auth.asked[-1] == ("registry:catalog:*",)


def test_a_registry_without_catalog_is_unsupported(harness: Harness) -> None:
    harness.fake.inject("GET", "/_catalog", Reply(404, b"404 page not found"))
    with pytest.raises(UnsupportedError, match="_catalog"):
        harness.reg.repo_list(harness.ref("any"))
