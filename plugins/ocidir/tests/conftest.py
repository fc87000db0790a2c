"""Shared fixtures for the ocidir tests: a scheme and fresh layout references."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from ocidir_testlib import NewLayout

from ocistore.ref import Ref
from ocistore.settings import Settings
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir


@pytest.fixture
def scheme() -> OCIDir:
    return OCIDir(Settings())


@pytest.fixture
def new_layout(tmp_path: Path) -> NewLayout:
    """A factory of fresh layout references (no tag, no digest), one directory each."""
    counter = itertools.count()
    return lambda: parse(f"ocidir://{tmp_path}/layout{next(counter)}")


@pytest.fixture
def layout(new_layout: NewLayout) -> Ref:
    return new_layout()
