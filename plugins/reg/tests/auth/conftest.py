"""Fixtures shared by the authentication tests: the fake registry + token server of
``authfakes`` (it replaces the parent directory's ``fake``, a plain fake registry) and a session
that never leaves loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from authfakes import Fake, loopback_session, serve_fake


@pytest.fixture
def fake() -> Iterator[Fake]:
    with serve_fake() as state:
        yield state


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with loopback_session() as s:
        yield s
