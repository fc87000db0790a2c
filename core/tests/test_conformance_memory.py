"""The conformance kit runs against the in-memory scheme (and so checks the kit itself)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator

import pytest

from ocistore.digest import Digest
from ocistore.ref import Ref
from ocistore.testing.conformance import SchemeConformance
from ocistore.testing.memory import MemoryScheme, MemoryTamper, parse


class TestMemoryConformance(SchemeConformance):
    @pytest.fixture
    def scheme_factory(self) -> Iterator[type[MemoryScheme]]:
        MemoryScheme.reset()
        yield MemoryScheme
        MemoryScheme.reset()

    @pytest.fixture
    def new_repo(self) -> Callable[[], Ref]:
        counter = itertools.count()
        return lambda: parse(f"memory://repo{next(counter)}")

    @pytest.fixture
    def tamper(self) -> MemoryTamper:
        return MemoryTamper()


def test_tamper_really_changes_what_is_stored() -> None:
    """The kit's read-verification checks mean something only if tampering reaches storage."""
    MemoryScheme.reset()
    scheme, ref = MemoryScheme(), parse("memory://tampered")
    digest, _ = scheme.blob_put(ref, None, io.BytesIO(b"abc"), 3)
    MemoryTamper().blob(ref, digest, b"abd")
    with scheme.blob_get(ref, digest, size=3) as reader:
        assert reader.read(3) == b"abd"  # the bytes changed; the digest check comes at the end
    assert digest != Digest.from_bytes(b"abd")
