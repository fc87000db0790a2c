"""The core conformance kit, run against OCI layout tars."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from ocistore.ref import Ref
from ocistore.testing.conformance import SchemeConformance
from ocistore_ocifile.ocitar import OCIFile
from ocistore_ocifile.plugin import parse


class TestOCIFileConformance(SchemeConformance):
    @pytest.fixture
    def scheme(self) -> OCIFile:
        return OCIFile()

    @pytest.fixture
    def new_repo(self, tmp_path: Path) -> Callable[[], Ref]:
        counter = itertools.count()
        return lambda: parse(f"ocifile://{tmp_path}/image{next(counter)}.tar")
