"""Session-scoped pytest fixtures for real-registry tests.

Each fixture starts its registry only when a test first asks for it and
keeps it for the rest of the session, because start-up is cheap but not
free and tests use unique repository names anyway. A missing binary is
a broken environment, not an optional feature, so it fails loudly
instead of skipping (a skip would let CI go green without the tests).

Wire in with ``pytest_plugins = ["tests.support.fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.registry import (
    INSTALL_HINT,
    REGISTRY_BINARY,
    RunningRegistry,
    Variant,
    start_registry,
)

__all__ = [
    "RunningRegistry",
    "registry_anon",
    "registry_basic",
    "registry_mtls",
    "registry_tls",
    "registry_token",
]


def _serve(variant: Variant) -> Iterator[RunningRegistry]:
    if not REGISTRY_BINARY.exists():
        pytest.fail(
            f"{REGISTRY_BINARY} not found: the registry tests need the Debian "
            f"package docker-registry. Install it with: {INSTALL_HINT}",
            pytrace=False,
        )
    with start_registry(variant) as running:
        yield running


@pytest.fixture(scope="session")
def registry_anon() -> Iterator[RunningRegistry]:
    """Plain-HTTP registry without authentication."""
    yield from _serve("anon")


@pytest.fixture(scope="session")
def registry_basic() -> Iterator[RunningRegistry]:
    """Plain-HTTP registry with htpasswd Basic auth for ``username``/``password``."""
    yield from _serve("basic")


@pytest.fixture(scope="session")
def registry_token() -> Iterator[RunningRegistry]:
    """Plain-HTTP registry with Bearer token auth via ``token_server``.

    The token server is shared by the session: change its knobs only
    through ``token_server.override(...)`` so they snap back afterwards.
    """
    yield from _serve("token")


@pytest.fixture(scope="session")
def registry_tls() -> Iterator[RunningRegistry]:
    """Anonymous HTTPS registry whose certificate chains to ``ca_file``."""
    yield from _serve("tls")


@pytest.fixture(scope="session")
def registry_mtls() -> Iterator[RunningRegistry]:
    """Anonymous HTTPS registry that also demands a client certificate.

    The server certificate chains to ``ca_file``, as for ``registry_tls``;
    clients must present ``client_tls.cert_file``/``key_file`` (``cert`` is
    the pair ready for requests), issued by a separate test client CA.
    """
    yield from _serve("mtls")
