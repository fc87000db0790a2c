"""The fixtures every conformance class uses, and the small helpers the test modules share.

Two fixtures are required (``scheme`` or ``scheme_factory``, and ``new_repo``); two are optional
and switch on the checks that need them:

* ``scheme_factory``: a *picklable* callable ``Settings -> Scheme`` (the scheme class itself, or
  a ``functools.partial`` of it). With it the kit checks that an unknown option is refused,
  races first use of brand-new scheme objects, and, for a scheme that declares
  ``SchemeInfo.multi_process``, runs two processes at once.
* ``tamper``: a :class:`Tamper` that changes stored bytes behind the scheme's back. With it the
  kit checks that every read verifies what it returns (a scheme that trusts its storage returns
  corrupt content without an error, which no other test can see).

A check whose optional fixture is missing is skipped with a reason that names the fixture, so
the report says what was not checked instead of passing it silently.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Protocol, TypeVar

import pytest

from ocistore.digest import Digest
from ocistore.ref import Ref
from ocistore.scheme import Scheme
from ocistore.settings import Settings

__all__ = ["NewRepo", "SchemeFactory", "SchemeFixtures", "Tamper", "flip", "need", "put_blob"]

NewRepo = Callable[[], Ref]
SchemeFactory = Callable[[Settings], Scheme]
_T = TypeVar("_T")


class Tamper(Protocol):
    """Overwrite what a scheme stored, without going through the scheme.

    Both methods replace the stored bytes of one digest by ``data`` of the same length (so only
    a digest check, not a size check, can notice). A content-addressed store keeps manifests as
    blobs and may implement ``manifest`` by calling ``blob``.
    """

    def blob(self, ref: Ref, digest: Digest, data: bytes) -> None: ...

    def manifest(self, ref: Ref, digest: Digest, raw: bytes) -> None: ...


class SchemeFixtures:
    """The fixtures a conformance subclass provides (see the module docstring)."""

    @pytest.fixture
    def settings(self) -> Settings:
        """The settings ``scheme_factory`` is given; override for a scheme that needs some."""
        return Settings(docker_config=False)

    @pytest.fixture
    def scheme_factory(self) -> SchemeFactory | None:
        return None

    @pytest.fixture
    def scheme(self, scheme_factory: SchemeFactory | None, settings: Settings) -> Scheme:
        if scheme_factory is None:
            raise NotImplementedError(
                "provide a `scheme` fixture returning the scheme under test, or a "
                "`scheme_factory` fixture (Settings -> scheme) that builds it"
            )
        return scheme_factory(settings)

    @pytest.fixture
    def new_repo(self) -> NewRepo:
        raise NotImplementedError(
            "provide a `new_repo` fixture returning a fresh-repository factory"
        )

    @pytest.fixture
    def repo(self, new_repo: NewRepo) -> Ref:
        return new_repo()

    @pytest.fixture
    def missing_repo(self, new_repo: NewRepo) -> Ref:
        """A repository nothing was ever stored in, for the "not found" checks; override it
        when ``new_repo`` prepares its repositories (opens a session, creates a database)."""
        return new_repo()

    @pytest.fixture
    def tamper(self) -> Tamper | None:
        return None


def need(value: _T | None, fixture: str, why: str) -> _T:
    """``value``, or skip the test naming the optional fixture that would enable it."""
    if value is None:
        pytest.skip(f"no `{fixture}` fixture: {why} is not checked (see ocistore.testing)")
    return value


def put_blob(scheme: Scheme, ref: Ref, data: bytes) -> Digest:
    """Store ``data`` with its digest and length declared, checking what the scheme answers."""
    digest, size = scheme.blob_put(ref, Digest.from_bytes(data), io.BytesIO(data), len(data))
    assert (digest, size) == (Digest.from_bytes(data), len(data))
    return digest


def flip(data: bytes) -> bytes:
    """``data`` with its middle byte changed: same length, different digest."""
    if not data:
        raise ValueError("cannot tamper with an empty blob")
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1 :]
