"""Tag rules: listed sorted (byte order), paged with ``limit``/``last``, moved by a put, deleted
without the manifest, and the error type for each missing or malformed case."""

from __future__ import annotations

import pytest

from ocistore.errors import (
    InvalidOptionError,
    MissingTagError,
    NotFoundError,
    TagNotFoundError,
    UnsupportedError,
)
from ocistore.ref import Ref
from ocistore.scheme import Scheme
from ocistore.testing.conformance.fixtures import SchemeFixtures
from ocistore.testing.content import oci_image, push

__all__ = ["TagTests"]

#: Deliberately pushed out of order; mixed case and digits sort by code point ("B" < "a").
_NAMES = ["v1.0", "b", "latest", "a", "B", "10", "9", "a-b", "a_b", "a.b"]


def _tag_all(scheme: Scheme, repo: Ref, names: list[str]) -> None:
    image = oci_image("many-tags", layers=1)
    push(scheme, repo.with_tag(names[0]), image)
    for tag in names[1:]:
        scheme.manifest_put(repo.with_tag(tag), image.manifest)


class TagTests(SchemeFixtures):
    def test_tag_list_is_every_tag_sorted(self, scheme: Scheme, repo: Ref) -> None:
        _tag_all(scheme, repo, _NAMES)
        assert scheme.tag_list(repo) == sorted(_NAMES)

    def test_tag_list_pages_with_limit_and_last(self, scheme: Scheme, repo: Ref) -> None:
        _tag_all(scheme, repo, _NAMES)
        every = sorted(_NAMES)
        assert scheme.tag_list(repo, limit=3) == every[:3]
        assert scheme.tag_list(repo, limit=len(every) + 5) == every
        after = every[3]
        assert scheme.tag_list(repo, last=after) == every[4:]
        assert scheme.tag_list(repo, last=after, limit=2) == every[4:6]
        assert scheme.tag_list(repo, last=every[-1]) == []
        # Paging to the end with the last tag of each page gives every tag once.
        seen: list[str] = []
        last: str | None = None
        while page := scheme.tag_list(repo, limit=4, last=last):
            assert len(page) <= 4
            seen += page
            last = page[-1]
        assert seen == every

    def test_tag_list_refuses_a_negative_limit(self, scheme: Scheme, repo: Ref) -> None:
        _tag_all(scheme, repo, ["only"])
        with pytest.raises(InvalidOptionError):
            scheme.tag_list(repo, limit=-1)

    def test_tag_list_of_a_missing_repository_is_not_found(
        self, scheme: Scheme, missing_repo: Ref
    ) -> None:
        with pytest.raises(NotFoundError):
            scheme.tag_list(missing_repo)

    def test_putting_a_tag_moves_it(self, scheme: Scheme, repo: Ref) -> None:
        first, second = oci_image("first"), oci_image("second")
        push(scheme, repo.with_tag("moving"), first)
        push(scheme, repo.with_tag("moving"), second)
        assert scheme.manifest_get(repo.with_tag("moving")).digest == second.digest
        assert scheme.manifest_get(repo.with_digest(first.digest)).digest == first.digest
        assert scheme.tag_list(repo) == ["moving"]

    def test_tag_delete_keeps_the_manifest(self, scheme: Scheme, repo: Ref) -> None:
        image = oci_image("untag")
        push(scheme, repo.with_tag("keep"), image)
        push(scheme, repo.with_tag("drop"), image)
        if not scheme.info().tag_delete:
            with pytest.raises(UnsupportedError):
                scheme.tag_delete(repo.with_tag("drop"))
            return
        scheme.tag_delete(repo.with_tag("drop"))
        assert scheme.tag_list(repo) == ["keep"]
        with pytest.raises(NotFoundError):
            scheme.manifest_get(repo.with_tag("drop"))
        assert scheme.manifest_get(repo.with_tag("keep")).digest == image.digest
        assert scheme.manifest_get(repo.with_digest(image.digest)).digest == image.digest

    def test_tag_delete_of_a_missing_tag_is_tag_not_found(self, scheme: Scheme, repo: Ref) -> None:
        push(scheme, repo.with_tag("here"), oci_image("here"))
        if not scheme.info().tag_delete:
            with pytest.raises(UnsupportedError):
                scheme.tag_delete(repo.with_tag("nowhere"))
            return
        with pytest.raises(TagNotFoundError, match="nowhere"):
            scheme.tag_delete(repo.with_tag("nowhere"))
        assert scheme.tag_list(repo) == ["here"]

    def test_tag_delete_needs_a_tag(self, scheme: Scheme, repo: Ref) -> None:
        image = oci_image("needs-tag", layers=1)
        push(scheme, repo.with_tag("t"), image)
        supported = scheme.info().tag_delete
        with pytest.raises(MissingTagError if supported else (MissingTagError, UnsupportedError)):
            scheme.tag_delete(repo.with_digest(image.digest))
