"""What a scheme does not do, and what it is not given: ``UnsupportedError`` for every ability
``info()`` does not declare, errors from the ``ocistore.errors`` tree (never a bare Python
exception) for every operation on a repository that does not exist, and
``InvalidOptionError`` for an option the scheme does not know.

These checks need no content, so they pass for a scheme that implements nothing yet (a
``SchemeBase`` subclass straight from ``ocistore scheme new``): an author starts from green and
adds the other classes as the operations arrive.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from ocistore.digest import Digest
from ocistore.errors import (
    InvalidOptionError,
    NotFoundError,
    OCIStoreError,
    UnsupportedError,
)
from ocistore.ref import Ref
from ocistore.scheme import Scheme
from ocistore.settings import Settings
from ocistore.testing.conformance.fixtures import NewRepo, SchemeFactory, SchemeFixtures, need

__all__ = ["UnsupportedTests"]

_ABSENT = Digest.from_bytes(b"ocistore conformance: never stored")


def _outcome(call: Callable[[], Any]) -> BaseException | None:
    try:
        result = call()
        if hasattr(result, "read"):
            with result:
                result.read()
    except BaseException as e:
        return e
    return None


class UnsupportedTests(SchemeFixtures):
    def test_undeclared_abilities_raise_unsupported(
        self, scheme: Scheme, new_repo: NewRepo
    ) -> None:
        info = scheme.info()
        source, target = new_repo(), new_repo()
        if not info.blob_mount:
            with pytest.raises(UnsupportedError):
                scheme.blob_mount(source, target, _ABSENT)
        if not info.blob_delete:
            with pytest.raises(UnsupportedError):
                scheme.blob_delete(target, _ABSENT)
        if not info.tag_delete:
            with pytest.raises(UnsupportedError):
                scheme.tag_delete(target.with_tag("absent"))
        if not info.repo_list:
            with pytest.raises(UnsupportedError):
                scheme.repo_list(target)
        if not info.referrers_api:
            # May be answered some other way (a scan), but never with a foreign exception.
            error = _outcome(lambda: scheme.referrers(target, _ABSENT))
            assert error is None or isinstance(error, OCIStoreError), repr(error)

    @pytest.mark.parametrize(
        "operation",
        [
            "blob_head",
            "blob_get",
            "manifest_get",
            "manifest_head",
            "manifest_get_by_digest",
            "tag_list",
            "manifest_delete",
            "blob_delete",
            "tag_delete",
        ],
    )
    def test_reads_of_a_missing_repository_are_not_found_or_unsupported(
        self, scheme: Scheme, missing_repo: Ref, operation: str
    ) -> None:
        """Nothing was ever stored here: each call raises ``NotFoundError`` (or
        ``UnsupportedError`` for what the scheme does not do), never ``KeyError``,
        ``FileNotFoundError``, ``NotImplementedError`` or a transport library's error."""
        never = missing_repo
        calls: dict[str, Callable[[], Any]] = {
            "blob_head": lambda: scheme.blob_head(never, _ABSENT),
            "blob_get": lambda: scheme.blob_get(never, _ABSENT),
            "manifest_get": lambda: scheme.manifest_get(never.with_tag("absent")),
            "manifest_head": lambda: scheme.manifest_head(never.with_tag("absent")),
            "manifest_get_by_digest": lambda: scheme.manifest_get(never.with_digest(_ABSENT)),
            "tag_list": lambda: scheme.tag_list(never),
            "manifest_delete": lambda: scheme.manifest_delete(never.with_digest(_ABSENT)),
            "blob_delete": lambda: scheme.blob_delete(never, _ABSENT),
            "tag_delete": lambda: scheme.tag_delete(never.with_tag("absent")),
        }
        error = _outcome(calls[operation])
        assert isinstance(error, NotFoundError | UnsupportedError), (
            f"{operation} on a repository that does not exist: expected NotFoundError or "
            f"UnsupportedError, got {error!r}"
        )

    def test_writes_are_done_or_unsupported(self, scheme: Scheme, repo: Ref) -> None:
        """A write either works or says it is not supported."""
        error = _outcome(lambda: scheme.blob_put(repo, None, io.BytesIO(b"x"), 1))
        assert error is None or isinstance(error, UnsupportedError), repr(error)

    def test_an_unknown_option_is_refused(
        self, scheme_factory: SchemeFactory | None, settings: Settings, repo: Ref
    ) -> None:
        """``Settings.options[<scheme>]`` with a key the scheme does not know is an
        ``InvalidOptionError`` naming it, when the scheme is built or first used; silently
        ignoring it would leave a default in force that the user meant to change."""
        factory = need(scheme_factory, "scheme_factory", "option checking")
        options = {**settings.options, repo.scheme: {"no_such_option_xyz": 1}}
        bad = replace(settings, options=options)
        with pytest.raises(InvalidOptionError, match="no_such_option_xyz"):  # noqa: PT012
            built = factory(bad)
            built.ping(repo)
            built.tag_list(repo)
