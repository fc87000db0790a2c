"""The core conformance kit against the real anonymous registry (distribution 2.8).

(The file is not called ``test_conformance.py`` because ``plugins/ocidir/tests`` has one: test
directories here are not packages, so pytest needs unique basenames.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from ocistore.digest import Digest
from ocistore.ref import Ref
from ocistore.settings import HostConfig, Settings
from ocistore.testing.conformance import SchemeConformance
from ocistore_reg.plugin import parse
from ocistore_reg.scheme import Reg
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry


class RegistryTamper:
    """Rewrites a blob's ``data`` file in the registry's filesystem storage (manifests are
    stored there as blobs too); distribution serves the file as it finds it."""

    def __init__(self, registry: RunningRegistry) -> None:
        self._root = registry.data_dir / "docker" / "registry" / "v2" / "blobs"

    def blob(self, ref: Ref, digest: Digest, data: bytes) -> None:
        path = self._root / digest.algorithm / digest.encoded[:2] / digest.encoded / "data"
        assert path.stat().st_size == len(data)
        path.write_bytes(data)

    def manifest(self, ref: Ref, digest: Digest, raw: bytes) -> None:
        self.blob(ref, digest, raw)


class TestRegConformance(SchemeConformance):
    @pytest.fixture
    def settings(self, registry_anon: RunningRegistry) -> Settings:
        config = HostConfig(registry_anon.host, tls="disabled")
        return Settings(docker_config=False).with_host(config)

    @pytest.fixture
    def scheme_factory(self) -> type[Reg]:
        return Reg

    @pytest.fixture
    def new_repo(self, registry_anon: RunningRegistry) -> Callable[[], Ref]:
        run = uuid.uuid4().hex[:8]
        counter = iter(range(1_000_000))
        return lambda: parse(f"{registry_anon.host}/conformance/{run}-{next(counter)}")

    @pytest.fixture
    def tamper(self, registry_anon: RunningRegistry) -> RegistryTamper:
        return RegistryTamper(registry_anon)
