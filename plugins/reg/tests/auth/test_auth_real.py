"""The Authenticator against the real distribution registry and token server (tests/support)."""

from __future__ import annotations

import hashlib
import secrets

import pytest
import requests
from authfakes import send

from ocistore_reg.auth import Authenticator
from ocistore_reg.credentials import Credential
from tests.support.registry import RunningRegistry


def _repo() -> str:
    return f"auth-test/{secrets.token_hex(6)}"


def _push_blob(
    auth: Authenticator, session: requests.Session, base: str, repo: str, data: bytes
) -> str:
    """POST + PUT a blob; returns its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    scopes = [f"repository:{repo}:pull,push"]
    started = send(auth, session, "POST", f"{base}/v2/{repo}/blobs/uploads/", scopes)
    assert started.status_code == 202, started.text
    location = requests.compat.urljoin(base, started.headers["Location"])
    sep = "&" if "?" in location else "?"
    response = session.put(
        f"{location}{sep}digest={digest}",
        data=data,
        headers={**auth.headers_for(scopes), "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return digest


@pytest.mark.registry
def test_real_basic_registry(registry_basic: RunningRegistry, session: requests.Session) -> None:
    reg = registry_basic
    auth = Authenticator(reg.host, session, Credential(reg.username, reg.password))
    response = send(auth, session, "GET", f"{reg.url}/v2/", [])
    assert response.status_code == 200
    assert auth.headers_for([])["Authorization"].startswith("Basic ")
    wrong = Authenticator(reg.host, session, Credential(reg.username, "wrong"))
    assert send(wrong, session, "GET", f"{reg.url}/v2/", []).status_code == 401


@pytest.mark.registry
def test_real_token_anonymous_pull(
    registry_token: RunningRegistry, session: requests.Session
) -> None:
    reg, server = registry_token, registry_token.token_server
    assert server is not None
    server.clear_requests()
    repo = _repo()
    auth = Authenticator(reg.host, session, None)
    response = send(auth, session, "GET", f"{reg.url}/v2/{repo}/tags/list", [])
    assert response.status_code == 404  # authorised, and the repository does not exist
    (recorded,) = server.requests
    assert (recorded.method, recorded.basic_auth) == ("GET", False)
    # Anonymous users may not push: one retry, then the 401 stands.
    scopes = [f"repository:{repo}:pull,push"]
    response = send(auth, session, "POST", f"{reg.url}/v2/{repo}/blobs/uploads/", scopes)
    assert response.status_code == 401


@pytest.mark.registry
def test_real_token_basic_get(registry_token: RunningRegistry, session: requests.Session) -> None:
    reg, server = registry_token, registry_token.token_server
    assert server is not None
    server.clear_requests()
    auth = Authenticator(reg.host, session, Credential(reg.username, reg.password))
    _push_blob(auth, session, reg.url, _repo(), b"basic on the token GET")
    (recorded,) = server.requests
    assert (recorded.method, recorded.basic_username) == ("GET", reg.username)


@pytest.mark.registry
def test_real_token_refresh_post(
    registry_token: RunningRegistry, session: requests.Session
) -> None:
    reg, server = registry_token, registry_token.token_server
    assert server is not None
    assert reg.username is not None
    refresh = server.issue_refresh_token(reg.username)
    server.clear_requests()
    auth = Authenticator(reg.host, session, Credential(identity_token=refresh))
    _push_blob(auth, session, reg.url, _repo(), b"refresh token POST")
    assert [(r.method, r.status) for r in server.requests] == [("POST", 200)]
    assert server.requests[0].params["grant_type"] == ["refresh_token"]


@pytest.mark.registry
def test_real_token_post_404_falls_back(
    registry_token: RunningRegistry, session: requests.Session
) -> None:
    reg, server = registry_token, registry_token.token_server
    assert server is not None
    assert reg.username is not None
    refresh = server.issue_refresh_token(reg.username)
    cred = Credential(reg.username, reg.password, identity_token=refresh)
    with server.override(post_enabled=False):
        server.clear_requests()
        auth = Authenticator(reg.host, session, cred)
        _push_blob(auth, session, reg.url, _repo(), b"POST 404 then GET")
        assert [(r.method, r.status) for r in server.requests] == [("POST", 404), ("GET", 200)]


@pytest.mark.registry
def test_real_token_password_grant(
    registry_token: RunningRegistry, session: requests.Session
) -> None:
    reg, server = registry_token, registry_token.token_server
    assert server is not None
    server.clear_requests()
    cred = Credential(reg.username, reg.password)
    auth = Authenticator(reg.host, session, cred, password_grant=True)
    _push_blob(auth, session, reg.url, _repo(), b"password grant")
    assert [(r.method, r.status) for r in server.requests] == [("POST", 200)]
    assert server.requests[0].params["grant_type"] == ["password"]


@pytest.mark.registry
def test_real_token_cross_repo_mount(
    registry_token: RunningRegistry, session: requests.Session
) -> None:
    reg, server = registry_token, registry_token.token_server
    assert server is not None
    auth = Authenticator(reg.host, session, Credential(reg.username, reg.password))
    source, target = _repo(), _repo()
    digest = _push_blob(auth, session, reg.url, source, b"mount me")
    server.clear_requests()
    scopes = [f"repository:{target}:pull,push", f"repository:{source}:pull"]
    url = f"{reg.url}/v2/{target}/blobs/uploads/?mount={digest}&from={source}"
    response = send(auth, session, "POST", url, scopes)
    assert response.status_code == 201, response.text  # mounted, not "upload instead"
    (recorded,) = server.requests  # one token holding both repositories
    assert sorted(recorded.params["scope"]) == sorted(
        [f"repository:{source}:pull", f"repository:{target}:pull,push"]
    )
