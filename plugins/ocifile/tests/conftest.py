"""Shared fixtures for the ocifile tests: schemes and fresh tar references."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from ocistore.ref import Ref
from ocistore_ocifile.ocitar import OCIFile
from ocistore_ocifile.plugin import parse

NewTar = Callable[[], Ref]


@pytest.fixture
def scheme() -> OCIFile:
    return OCIFile()


@pytest.fixture
def new_tar(tmp_path: Path) -> NewTar:
    """A factory of fresh tar references (no tag, no digest), one file each."""
    counter = itertools.count()
    return lambda: parse(f"ocifile://{tmp_path}/image{next(counter)}.tar")
