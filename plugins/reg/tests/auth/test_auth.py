"""The Authenticator's 401 dance: when it answers, with what, and when it stops retrying.

Token fetching, the token cache and the realm rules have their own test modules
(``test_auth_tokenfetch``, ``test_auth_tokencache``, ``test_auth_realms``); the fake registry
and token server they share is ``authfakes``.
"""

from __future__ import annotations

import base64
import logging

import pytest
import requests
from authfakes import (
    PULL_A,
    PUSH_A,
    REFRESH,
    SECRET,
    SERVICE,
    Fake,
    basic_pair,
    canned_session,
    make_401,
    make_auth,
    send,
)

from ocistore.errors import UnauthorizedError
from ocistore_reg.auth import Authenticator
from ocistore_reg.credentials import Credential

# -- bearer flows ---------------------------------------------------------------------------


def test_anonymous_token(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session)
    assert auth.headers_for(PULL_A) == {}
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    (token_hit,) = fake.token_hits()
    assert token_hit.method == "GET"
    assert token_hit.authorization is None
    assert token_hit.params == {"service": [SERVICE], "scope": ["repository:a/b:pull"]}
    # The second request carries the cached token up front: no 401, no new token.
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/v2", PULL_A)
    assert response.status_code == 200
    assert len(fake.token_hits()) == 1
    assert [h.authorization is not None for h in fake.registry_hits()] == [False, True, True]


def test_anonymous_push_fails_after_one_retry(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session)
    response = send(auth, session, "PUT", f"{fake.url}/v2/a/b/manifests/latest", PUSH_A)
    assert response.status_code == 401
    assert len(fake.token_hits()) == 1
    assert len(fake.registry_hits()) == 2  # the first try and exactly one retry


# -- Basic and static tokens -----------------------------------------------------------------


def test_basic_challenge(fake: Fake, session: requests.Session) -> None:
    fake.mode = "basic"
    auth = make_auth(fake, session, Credential("alice", SECRET))
    assert auth.headers_for(PULL_A) == {}  # nothing is sent before the host asks
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    assert basic_pair(auth.headers_for(PULL_A)["Authorization"]) == ("alice", SECRET)
    send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/x", PULL_A)
    assert [h.authorization is not None for h in fake.registry_hits()] == [False, True, True]
    assert fake.token_hits() == []


def test_basic_wrong_password_retries_once(fake: Fake, session: requests.Session) -> None:
    fake.mode = "basic"
    auth = make_auth(fake, session, Credential("alice", "nope"))
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 401
    assert len(fake.registry_hits()) == 2


@pytest.mark.parametrize(
    "credential", [None, Credential(identity_token=REFRESH), Credential(username="alice")]
)
def test_basic_without_password(
    fake: Fake, session: requests.Session, credential: Credential | None
) -> None:
    fake.mode = "basic"
    auth = make_auth(fake, session, credential)
    response = session.get(f"{fake.url}/v2/a/b/manifests/latest")
    with pytest.raises(UnauthorizedError) as info:
        auth.handle_challenge(response, PULL_A)
    assert fake.host in str(info.value)
    assert REFRESH not in str(info.value)


def test_registry_token(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session, Credential(registry_token="static-rt"))
    assert auth.headers_for(PULL_A) == {"Authorization": "Bearer static-rt"}
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 401  # the fake does not know it: no exchange, no retry
    assert fake.token_hits() == []
    assert len(fake.registry_hits()) == 1


def test_unknown_challenge_scheme_is_not_retried() -> None:
    session, adapter = canned_session()
    auth = Authenticator("reg.example", session, Credential("alice", SECRET))
    for challenges in (("Negotiate abc==",), (), ("Bearer service=no-realm",)):
        assert auth.handle_challenge(make_401("https://reg.example/v2/", *challenges), []) is False
    assert adapter.requests == []


def test_bearer_preferred_over_basic() -> None:
    session, adapter = canned_session()
    auth = Authenticator("reg.example", session, Credential("alice", SECRET))
    response = make_401(
        "https://reg.example/v2/", 'Basic realm="b"', 'Bearer realm="https://auth.example/t"'
    )
    assert auth.handle_challenge(response, PULL_A) is True
    assert auth.headers_for(PULL_A) == {"Authorization": "Bearer canned"}
    assert len(adapter.requests) == 1


# -- secrecy --------------------------------------------------------------------------------


def test_secrets_never_logged_or_shown(
    fake: Fake, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cred = Credential("alice", SECRET, identity_token=REFRESH)
    fake.post_enabled = False
    auth = make_auth(fake, session, cred)
    send(auth, session, "PUT", f"{fake.url}/v2/a/b/manifests/latest", PUSH_A)
    text = caplog.text + repr(auth)
    assert SECRET not in text
    assert REFRESH not in text
    assert base64.b64encode(f"alice:{SECRET}".encode()).decode() not in text
    with fake.lock:
        issued = list(fake.tokens)
    assert all(token not in text for token in issued)
