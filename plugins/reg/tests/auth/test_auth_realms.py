"""Which 401s are answered, and which token realms may receive credentials."""

from __future__ import annotations

import pytest
import requests
from authfakes import (
    PULL_A,
    SECRET,
    Fake,
    basic_pair,
    canned_session,
    make_401,
    make_auth,
    send,
)

from ocistore.errors import AuthError
from ocistore_reg.auth import Authenticator
from ocistore_reg.credentials import Credential

# -- realms and hosts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "realm", "allowed"),
    [
        ("https://reg.example", "https://auth.example/token", True),
        ("https://reg.example", "http://auth.example/token", False),
        ("https://reg.example", "http://127.0.0.1:9/token", True),
        ("https://reg.example", "http://localhost:9/token", True),
        ("https://reg.example", "http://[::1]:9/token", True),
        ("http://reg.example", "http://auth.example/token", True),  # plain registry anyway
        ("https://reg.example", "ftp://auth.example/token", False),
        ("https://reg.example", "file:///etc/passwd", False),
        ("https://reg.example", "/token", True),  # relative: resolves to https://reg.example
        ("http://reg.example", "//auth.example/token", True),
        ("https://reg.example", "javascript:alert(1)", False),
    ],
)
def test_realm_must_be_https(registry: str, realm: str, allowed: bool) -> None:
    session, adapter = canned_session()
    auth = Authenticator("reg.example", session, Credential("alice", SECRET))
    response = make_401(f"{registry}/v2/a/b/manifests/latest", f'Bearer realm="{realm}"')
    if allowed:
        assert auth.handle_challenge(response, PULL_A) is True
        (sent,) = adapter.requests
        expected = realm if "://" in realm else None
        if expected is not None:
            assert (sent.url or "").startswith(expected)
    else:
        with pytest.raises(AuthError) as info:
            auth.handle_challenge(response, PULL_A)
        assert "https" in str(info.value)
        assert "reg.example" in str(info.value)
        assert adapter.requests == []


def test_relative_realm_against_request_url(fake: Fake, session: requests.Session) -> None:
    fake.realm = "/token"
    auth = make_auth(fake, session)
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    assert fake.token_hits()[0].host == fake.host


def test_no_answer_to_a_401_from_another_host() -> None:
    session, adapter = canned_session()
    auth = Authenticator("reg.example", session, Credential("alice", SECRET))
    for url in (
        "https://cdn.example/blobs/x",
        "https://reg.example:8443/v2/",
        "https://evil.reg.example/v2/",
    ):
        response = make_401(url, 'Bearer realm="https://cdn.example/token"', 'Basic realm="x"')
        assert auth.handle_challenge(response, PULL_A) is False
    assert adapter.requests == []
    assert auth.headers_for(PULL_A) == {}


def test_default_ports_and_hub_aliases_are_the_same_host() -> None:
    session, adapter = canned_session()
    for hostname, url in [
        ("reg.example:443", "https://reg.example/v2/"),
        ("reg.example", "https://reg.example:443/v2/"),
        ("docker.io", "https://registry-1.docker.io/v2/"),
    ]:
        auth = Authenticator(hostname, session, None)
        response = make_401(url, 'Bearer realm="https://auth.example/token",service="s"')
        assert auth.handle_challenge(response, PULL_A) is True
    assert len(adapter.requests) == 3


def test_realm_on_another_host_gets_no_credentials(fake: Fake, session: requests.Session) -> None:
    """A registry's challenge cannot send the password to a host of its choosing (issue 8):
    a token server on another host name is asked for an anonymous token."""
    fake.realm = f"http://localhost:{fake.port}/token"
    auth = make_auth(fake, session, Credential("alice", SECRET))
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    (token_hit,) = fake.token_hits()
    assert token_hit.host == f"localhost:{fake.port}"
    assert token_hit.authorization is None
    assert "account" not in token_hit.params


def test_realm_on_a_host_the_user_named_gets_credentials(
    fake: Fake, session: requests.Session
) -> None:
    """Named in the settings (``trusted_hosts``), that host, and only it, gets them."""
    fake.realm = f"http://localhost:{fake.port}/token"
    auth = make_auth(
        fake, session, Credential("alice", SECRET), trusted_hosts=frozenset({"localhost"})
    )
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    (token_hit,) = fake.token_hits()
    assert token_hit.host == f"localhost:{fake.port}"
    assert basic_pair(token_hit.authorization) == ("alice", SECRET)
    # The registry itself never saw Basic credentials, only the bearer token.
    assert all(
        h.authorization is None or h.authorization.startswith("Bearer ")
        for h in fake.registry_hits()
    )


@pytest.mark.parametrize(
    ("hostname", "realm", "named", "allowed"),
    [
        ("reg.example", "https://reg.example/token", (), True),
        ("reg.example:5000", "https://reg.example:5001/token", (), True),  # beside it
        ("reg.example", "https://auth.example/token", (), False),
        ("reg.example", "https://evil.reg.example/token", (), False),
        ("reg.example", "https://auth.example/token", ("auth.example",), True),
        ("reg.example", "https://auth.example:8443/token", ("auth.example:9",), True),
        ("reg.example", "https://other.example/token", ("auth.example",), False),
        ("registry-1.docker.io", "https://auth.docker.io/token", (), True),
        ("reg.example", "https://auth.docker.io/token", (), False),
    ],
)
def test_which_token_servers_may_get_credentials(
    hostname: str, realm: str, named: tuple[str, ...], allowed: bool
) -> None:
    from ocistore_reg.realms import Realm, credentials_may_go

    assert credentials_may_go(Realm(realm, None), hostname, frozenset(named)) is allowed
