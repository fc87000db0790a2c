"""Token requests: GET with Basic or anonymous, OAuth2 POST (refresh and password grants),
fallbacks, redirects and how token server failures are reported.
"""

from __future__ import annotations

import json

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
    learn,
    make_401,
    make_auth,
    send,
)

from ocistore.errors import (
    AuthError,
    ForbiddenError,
    RateLimitError,
    RegistryError,
    TransportError,
    UnauthorizedError,
)
from ocistore_reg.auth import Authenticator
from ocistore_reg.credentials import Credential


def test_basic_auth_on_token_get(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session, Credential("alice", SECRET))
    response = send(auth, session, "PUT", f"{fake.url}/v2/a/b/manifests/latest", PUSH_A)
    assert response.status_code == 200
    (token_hit,) = fake.token_hits()
    assert token_hit.method == "GET"
    assert basic_pair(token_hit.authorization) == ("alice", SECRET)
    assert token_hit.params["account"] == ["alice"]
    assert token_hit.params["scope"] == ["repository:a/b:pull,push"]


def test_token_server_rejects_credentials(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session, Credential("alice", "wrong-" + SECRET))
    with pytest.raises(UnauthorizedError) as info:
        send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    message = str(info.value)
    assert fake.host in message  # the realm host is named
    assert SECRET not in message
    assert "wrong" not in message


def test_refresh_token_post(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session, Credential(identity_token=REFRESH))
    scopes = ["repository:c/d:pull,push", "repository:a/b:pull"]  # a cross-repo mount
    url = f"{fake.url}/v2/c/d/blobs/uploads/?mount=sha256:00&from=a/b"
    response = send(auth, session, "POST", url, scopes)
    assert response.status_code == 200
    (token_hit,) = fake.token_hits()
    assert token_hit.method == "POST"
    assert token_hit.authorization is None
    assert token_hit.params == {}
    assert token_hit.form == {
        "grant_type": ["refresh_token"],
        "refresh_token": [REFRESH],
        "client_id": ["ocistore"],
        "service": [SERVICE],
        "scope": ["repository:a/b:pull repository:c/d:pull,push"],
    }


def test_rotated_refresh_token_is_used_next(fake: Fake, session: requests.Session) -> None:
    fake.rotate_refresh = True
    auth = make_auth(fake, session, Credential(identity_token=REFRESH))
    learn(auth, fake, session)
    auth.headers_for(["repository:other:pull"])
    first, second = fake.token_hits()
    assert first.form["refresh_token"] == [REFRESH]
    assert second.form["refresh_token"][0].startswith("rotated-")


def test_refresh_token_from_get_is_not_adopted(fake: Fake, session: requests.Session) -> None:
    """Only a refresh grant's answer replaces the refresh token; Basic users stay on GET."""
    fake.rotate_refresh = True
    auth = make_auth(fake, session, Credential("alice", SECRET))
    learn(auth, fake, session)
    auth.headers_for(["repository:other:pull"])
    assert [h.method for h in fake.token_hits()] == ["GET", "GET"]


def test_post_404_falls_back_to_get(fake: Fake, session: requests.Session) -> None:
    fake.post_enabled = False
    cred = Credential("alice", SECRET, identity_token=REFRESH)
    auth = make_auth(fake, session, cred)
    response = send(auth, session, "PUT", f"{fake.url}/v2/a/b/manifests/latest", PUSH_A)
    assert response.status_code == 200
    assert [h.method for h in fake.token_hits()] == ["POST", "GET"]
    assert basic_pair(fake.token_hits()[1].authorization) == ("alice", SECRET)


def test_post_404_with_identity_token_only_gets_anonymously(
    fake: Fake, session: requests.Session
) -> None:
    fake.post_enabled = False
    auth = make_auth(fake, session, Credential(identity_token=REFRESH))
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    get = fake.token_hits()[1]
    assert (get.method, get.authorization) == ("GET", None)
    assert REFRESH not in json.dumps(get.params)


def test_password_grant_option(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session, Credential("alice", SECRET), password_grant=True)
    response = send(auth, session, "PUT", f"{fake.url}/v2/a/b/manifests/latest", PUSH_A)
    assert response.status_code == 200
    (token_hit,) = fake.token_hits()
    assert token_hit.method == "POST"
    assert token_hit.authorization is None
    assert token_hit.form["grant_type"] == ["password"]
    assert token_hit.form["username"] == ["alice"]
    assert token_hit.form["password"] == [SECRET]
    assert token_hit.form["client_id"] == ["ocistore"]


def test_password_grant_404_falls_back_to_basic_get(fake: Fake, session: requests.Session) -> None:
    fake.post_enabled = False
    auth = make_auth(fake, session, Credential("alice", SECRET), password_grant=True)
    response = send(auth, session, "PUT", f"{fake.url}/v2/a/b/manifests/latest", PUSH_A)
    assert response.status_code == 200
    assert [h.method for h in fake.token_hits()] == ["POST", "GET"]


def test_bad_refresh_token(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session, Credential(identity_token="unknown-" + REFRESH))
    with pytest.raises(UnauthorizedError) as info:
        send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert REFRESH not in str(info.value)


@pytest.mark.parametrize("fields", ["both", "token", "access_token", "differ"])
def test_token_and_access_token(fake: Fake, session: requests.Session, fields: str) -> None:
    fake.token_fields = fields  # "differ": only access_token is valid, so it must be preferred
    auth = make_auth(fake, session)
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200


def test_credentialed_token_request_does_not_follow_redirects(
    fake: Fake, session: requests.Session
) -> None:
    fake.token_redirect = f"http://localhost:{fake.port}/token2"
    auth = make_auth(fake, session, Credential("alice", SECRET))
    with pytest.raises(AuthError, match="redirect"):
        send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert [h.path for h in fake.token_hits()] == ["/token"]


def test_refresh_post_does_not_follow_redirects(fake: Fake, session: requests.Session) -> None:
    fake.token_redirect = f"http://localhost:{fake.port}/token2"
    auth = make_auth(fake, session, Credential(identity_token=REFRESH))
    with pytest.raises(AuthError, match="redirect"):
        send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert [h.path for h in fake.token_hits()] == ["/token"]


def test_anonymous_token_request_follows_redirects(fake: Fake, session: requests.Session) -> None:
    fake.token_redirect = f"http://localhost:{fake.port}/token2"
    auth = make_auth(fake, session)
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    assert [h.path for h in fake.token_hits()] == ["/token", "/token2"]


# -- token server failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "fragment"),
    [
        (403, b"{}", ForbiddenError, "403"),
        (429, b"{}", RateLimitError, "429"),
        (500, b"{}", RegistryError, "500"),
        (200, b"<html>", AuthError, "not JSON"),
        (200, b"[1]", AuthError, "not an object"),
        (200, b'{"expires_in": 60}', AuthError, "without a token"),
        (200, b'{"token": ""}', AuthError, "without a token"),
    ],
)
def test_token_server_failures(
    status: int, body: bytes, error: type[Exception], fragment: str
) -> None:
    def handler(_: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        return status, {}, body

    session, _ = canned_session(handler)
    auth = Authenticator("reg.example", session, Credential("alice", SECRET))
    response = make_401("https://reg.example/v2/", 'Bearer realm="https://auth.example/t"')
    with pytest.raises(error) as info:
        auth.handle_challenge(response, PULL_A)
    assert fragment in str(info.value)
    assert "auth.example" in str(info.value)
    assert SECRET not in str(info.value)


def test_token_server_rate_limit_carries_retry_after() -> None:
    def handler(_: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        return 429, {"Retry-After": "7"}, b"{}"

    session, _ = canned_session(handler)
    auth = Authenticator("reg.example", session, Credential("alice", SECRET))
    response = make_401("https://reg.example/v2/", 'Bearer realm="https://auth.example/t"')
    with pytest.raises(RateLimitError) as info:
        auth.handle_challenge(response, PULL_A)
    assert info.value.retry_after == 7.0


def test_unreachable_token_server(session: requests.Session) -> None:
    auth = Authenticator("reg.example", session, Credential("alice", SECRET), timeout=5)
    response = make_401("https://reg.example/v2/", 'Bearer realm="http://127.0.0.1:9/token"')
    with pytest.raises(TransportError, match=r"127\.0\.0\.1:9"):
        auth.handle_challenge(response, PULL_A)
