"""Fixtures for the reg plugin's tests: a fake registry, and Reg instances that do not sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from regfakes import FakeRegistry, Harness, StandInAuth


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def make_harness(fake: FakeRegistry) -> Callable[..., Harness]:
    def make(
        *, auth: StandInAuth | None = None, registry: FakeRegistry | None = None, **host: Any
    ) -> Harness:
        return Harness(registry or fake, auth or StandInAuth(), **host)

    return make


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()


@pytest.fixture
def tls_fake(tmp_path: Path) -> Iterator[FakeRegistry]:
    with FakeRegistry(tls_dir=tmp_path / "tls") as registry:
        yield registry
