"""The conformance kit runs against the in-memory scheme (and so checks the kit itself)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from ocistore.ref import Ref
from ocistore.testing.conformance import SchemeConformance
from ocistore.testing.memory import MemoryScheme, parse


class TestMemoryConformance(SchemeConformance):
    @pytest.fixture
    def scheme(self) -> Iterator[MemoryScheme]:
        MemoryScheme.reset()
        yield MemoryScheme()
        MemoryScheme.reset()

    @pytest.fixture
    def new_repo(self) -> Callable[[], Ref]:
        counter = itertools.count()
        return lambda: parse(f"memory://repo{next(counter)}")
