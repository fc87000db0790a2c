"""The core conformance kit, run against OCI layout tars."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from ocifile_testlib import TarTamper

from ocistore.ref import Ref
from ocistore.testing.conformance import BlobTests, SchemeConformance
from ocistore_ocifile.dockertar import DockerTar
from ocistore_ocifile.ocitar import OCIFile
from ocistore_ocifile.plugin import parse, parse_docker


class TestOCIFileConformance(SchemeConformance):
    @pytest.fixture
    def scheme_factory(self) -> type[OCIFile]:
        return OCIFile

    @pytest.fixture
    def tamper(self, scheme: OCIFile) -> TarTamper:
        return TarTamper(scheme)

    @pytest.fixture
    def new_repo(self, tmp_path: Path) -> Callable[[], Ref]:
        counter = itertools.count()
        return lambda: parse(f"ocifile://{tmp_path}/image{next(counter)}.tar")


class TestDockerTarBlobs(BlobTests):
    """dockertar holds Docker v2 schema 2 images only, so the kit's OCI images cannot go in;
    its blobs behave like any scheme's."""

    @pytest.fixture
    def scheme(self) -> DockerTar:
        return DockerTar()

    @pytest.fixture
    def tamper(self, scheme: DockerTar) -> TarTamper:
        return TarTamper(scheme)

    @pytest.fixture
    def new_repo(self, tmp_path: Path) -> Callable[[], Ref]:
        counter = itertools.count()
        return lambda: parse_docker(f"dockertar://{tmp_path}/save{next(counter)}.tar")
