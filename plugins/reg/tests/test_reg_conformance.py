"""The core conformance kit against the real anonymous registry (distribution 2.8).

(The file is not called ``test_conformance.py`` because ``plugins/ocidir/tests`` has one: test
directories here are not packages, so pytest needs unique basenames.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from ocistore.ref import Ref
from ocistore.settings import HostConfig, Settings
from ocistore.testing.conformance import SchemeConformance
from ocistore_reg.plugin import parse
from ocistore_reg.scheme import Reg
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry


class TestRegConformance(SchemeConformance):
    @pytest.fixture
    def scheme(self, registry_anon: RunningRegistry) -> Reg:
        config = HostConfig(registry_anon.host, tls="disabled")
        return Reg(Settings(docker_config=False).with_host(config))

    @pytest.fixture
    def new_repo(self, registry_anon: RunningRegistry) -> Callable[[], Ref]:
        run = uuid.uuid4().hex[:8]
        counter = iter(range(1_000_000))
        return lambda: parse(f"{registry_anon.host}/conformance/{run}-{next(counter)}")
