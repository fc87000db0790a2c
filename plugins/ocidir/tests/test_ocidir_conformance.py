"""The core conformance kit, run against ocidir."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from ocidir_testlib import LayoutTamper

from ocistore.ref import Ref
from ocistore.settings import Settings
from ocistore.testing.conformance import SchemeConformance
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir


class TestOCIDirConformance(SchemeConformance):
    @pytest.fixture
    def scheme_factory(self) -> type[OCIDir]:
        return OCIDir

    @pytest.fixture
    def new_repo(self, tmp_path: Path) -> Callable[[], Ref]:
        counter = itertools.count()
        return lambda: parse(f"ocidir://{tmp_path}/layout{next(counter)}")

    @pytest.fixture
    def tamper(self) -> LayoutTamper:
        return LayoutTamper()


class TestOCIDirConformanceWithoutGC(TestOCIDirConformance):
    """GC off changes only what ``close`` does; everything else must hold unchanged."""

    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(docker_config=False, options={"ocidir": {"gc": False}})
