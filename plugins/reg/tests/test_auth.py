"""Authenticator against a small fake registry + token server on 127.0.0.1.

The fake lives in this file so each knob a test flips is visible next to the test. Requests that
must not reach the network (foreign realms) go through a canned ``requests`` adapter instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

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
from tests.support.registry import RunningRegistry

SECRET = "pa55-Wörd:with-colon"
REFRESH = "refresh-abc-123"
SERVICE = "fake-registry"


# -- the fake server ------------------------------------------------------------------------


@dataclass
class Hit:
    method: str
    path: str
    host: str
    authorization: str | None
    params: dict[str, list[str]]
    form: dict[str, list[str]]


@dataclass
class Fake:
    """Knobs and records of one fake registry + token server (one port, two roles)."""

    port: int = 0
    mode: str = "bearer"  # registry auth: "bearer" or "basic"
    realm: str | None = None  # default: this server's /token
    users: dict[str, str] = field(default_factory=lambda: {"alice": SECRET})
    refresh_tokens: dict[str, str] = field(default_factory=lambda: {REFRESH: "alice"})
    post_enabled: bool = True
    expires_in: int | None = 300
    issued_at: str | None = None
    token_fields: str = "both"  # "both", "token", "access_token", "differ"
    token_redirect: str | None = None
    reject_all_tokens: bool = False
    rotate_refresh: bool = False
    tokens: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def token_hits(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path.startswith("/token")]

    def registry_hits(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path.startswith("/v2/")]


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _needs(method: str, path: str, params: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(repository, action) pairs a registry request needs."""
    found = re.match(r"^/v2/(?P<name>.+?)/(manifests|blobs|tags)/", path)
    if not found:
        return []
    name = found.group("name")
    needs = [(name, "pull")]
    if method not in ("GET", "HEAD"):
        needs.append((name, "push"))
    needs.extend((source, "pull") for source in params.get("from", []))
    return needs


def _scope_text(needs: Sequence[tuple[str, str]]) -> str:
    by_repo: dict[str, list[str]] = {}
    for repo, action in needs:
        by_repo.setdefault(repo, []).append(action)
    return " ".join(f"repository:{r}:{','.join(a)}" for r, a in by_repo.items())


def _grants(scopes: Sequence[str], user: str | None) -> frozenset[tuple[str, str]]:
    granted: set[tuple[str, str]] = set()
    for value in scopes:
        for scope in value.split():
            first, last = scope.find(":"), scope.rfind(":")
            for action in scope[last + 1 :].split(","):
                if user is not None or action == "pull":
                    granted.add((scope[first + 1 : last], action))
    return frozenset(granted)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: Fake

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any, headers: Sequence[tuple[str, str]] = ()) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _handle(self, method: str) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        form: dict[str, list[str]] = {}
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        auth = self.headers.get("Authorization")
        with fake.lock:
            fake.hits.append(
                Hit(method, url.path, self.headers.get("Host", ""), auth, params, form)
            )
        if url.path.startswith("/token"):
            self._token(method, url.path, params, form, auth)
        else:
            self._registry(method, url.path, params, auth)

    # registry role
    def _registry(
        self, method: str, path: str, params: dict[str, list[str]], auth: str | None
    ) -> None:
        fake = self.fake
        if fake.mode == "basic":
            creds = _basic(auth)
            if creds is not None and fake.users.get(creds[0]) == creds[1]:
                self._reply(200, {"ok": True})
            else:
                self._reply(401, {"errors": []}, [("WWW-Authenticate", 'Basic realm="fake"')])
            return
        needs = _needs(method, path, params)
        realm = fake.realm or f"{fake.url}/token"
        challenge = f'Bearer realm="{realm}",service="{SERVICE}"'
        if needs:
            challenge += f',scope="{_scope_text(needs)}"'
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        if token is None:
            self._reply(401, {"errors": []}, [("WWW-Authenticate", challenge)])
            return
        with fake.lock:
            grants = fake.tokens.get(token)
            invalid = grants is None or token in fake.revoked or fake.reject_all_tokens
        if invalid:
            error = challenge + ',error="invalid_token"'
            self._reply(401, {"errors": []}, [("WWW-Authenticate", error)])
        elif not set(needs) <= (grants or frozenset()):
            error = challenge + ',error="insufficient_scope"'
            self._reply(401, {"errors": []}, [("WWW-Authenticate", error)])
        else:
            self._reply(200, {"ok": True})

    # token role
    def _token(
        self,
        method: str,
        path: str,
        params: dict[str, list[str]],
        form: dict[str, list[str]],
        auth: str | None,
    ) -> None:
        fake = self.fake
        if fake.token_redirect and path == "/token":
            query = urlsplit(self.path).query
            target = fake.token_redirect + (f"?{query}" if query else "")
            self._reply(307, {}, [("Location", target)])
            return
        user: str | None = None
        if method == "POST":
            if not fake.post_enabled:
                self._reply(404, {"error": "not_found"})
                return
            if not form.get("client_id"):
                self._reply(400, {"error": "invalid_request"})
                return
            grant = form.get("grant_type", [""])[0]
            if grant == "refresh_token":
                with fake.lock:
                    user = fake.refresh_tokens.get(form.get("refresh_token", [""])[0])
                    if user is not None and fake.rotate_refresh:
                        fake.refresh_tokens = {"rotated-" + secrets.token_hex(4): user}
            elif grant == "password":
                name = form.get("username", [""])[0]
                if fake.users.get(name) == form.get("password", [""])[0]:
                    user = name
            if user is None:
                self._reply(401, {"error": "invalid_grant"})
                return
            scopes = form.get("scope", [])
        else:
            creds = _basic(auth)
            if creds is not None:
                if fake.users.get(creds[0]) != creds[1]:
                    self._reply(401, {"errors": []}, [("WWW-Authenticate", 'Basic realm="token"')])
                    return
                user = creds[0]
            scopes = params.get("scope", [])
        token = "tok-" + secrets.token_hex(8)
        with fake.lock:
            fake.tokens[token] = _grants(scopes, user)
        body: dict[str, Any] = {}
        if fake.token_fields in ("both", "token"):
            body["token"] = token
        if fake.token_fields in ("both", "access_token", "differ"):
            body["access_token"] = token
        if fake.token_fields == "differ":
            body["token"] = "not-the-right-one"
        if fake.expires_in is not None:
            body["expires_in"] = fake.expires_in
        if fake.issued_at is not None:
            body["issued_at"] = fake.issued_at
        if fake.rotate_refresh:  # GET answers carry one too, as some servers do
            body["refresh_token"] = next(iter(fake.refresh_tokens))
        self._reply(200, body)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")


@pytest.fixture
def fake() -> Iterator[Fake]:
    state = Fake()
    handler = type("Handler", (_Handler,), {"fake": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.trust_env = False  # loopback only: no proxies, no netrc
        yield s


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_auth(
    fake: Fake,
    session: requests.Session,
    credential: Credential | None = None,
    **kwargs: Any,
) -> Authenticator:
    return Authenticator(fake.host, session, credential, **kwargs)


def send(
    auth: Authenticator,
    session: requests.Session,
    method: str,
    url: str,
    scopes: Sequence[str],
    *,
    attempts: int = 4,
) -> requests.Response:
    """What a transport does: pre-emptive header, then retry while the authenticator says so."""
    for _ in range(attempts):
        response = session.request(method, url, headers=auth.headers_for(scopes), timeout=10)
        if response.status_code != 401 or not auth.handle_challenge(response, scopes):
            return response
    raise AssertionError("handle_challenge kept asking for retries")


PULL_A = ["repository:a/b:pull"]
PUSH_A = ["repository:a/b:pull,push"]


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


def test_basic_auth_on_token_get(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session, Credential("alice", SECRET))
    response = send(auth, session, "PUT", f"{fake.url}/v2/a/b/manifests/latest", PUSH_A)
    assert response.status_code == 200
    (token_hit,) = fake.token_hits()
    assert token_hit.method == "GET"
    assert _basic(token_hit.authorization) == ("alice", SECRET)
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
    _learn(auth, fake, session)
    auth.headers_for(["repository:other:pull"])
    first, second = fake.token_hits()
    assert first.form["refresh_token"] == [REFRESH]
    assert second.form["refresh_token"][0].startswith("rotated-")


def test_refresh_token_from_get_is_not_adopted(fake: Fake, session: requests.Session) -> None:
    """Only a refresh grant's answer replaces the refresh token; Basic users stay on GET."""
    fake.rotate_refresh = True
    auth = make_auth(fake, session, Credential("alice", SECRET))
    _learn(auth, fake, session)
    auth.headers_for(["repository:other:pull"])
    assert [h.method for h in fake.token_hits()] == ["GET", "GET"]


def test_post_404_falls_back_to_get(fake: Fake, session: requests.Session) -> None:
    fake.post_enabled = False
    cred = Credential("alice", SECRET, identity_token=REFRESH)
    auth = make_auth(fake, session, cred)
    response = send(auth, session, "PUT", f"{fake.url}/v2/a/b/manifests/latest", PUSH_A)
    assert response.status_code == 200
    assert [h.method for h in fake.token_hits()] == ["POST", "GET"]
    assert _basic(fake.token_hits()[1].authorization) == ("alice", SECRET)


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


# -- caching, expiry, scopes ----------------------------------------------------------------


def _learn(auth: Authenticator, fake: Fake, session: requests.Session) -> None:
    """Let the authenticator see one challenge (one token fetch)."""
    send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)


@pytest.mark.parametrize(
    ("expires_in", "issued_ago", "still_cached_at", "renewed_at"),
    [
        (300, None, 294, 296),  # renew ~5 s before expiry
        (60, None, 54, 56),
        (10, None, 54, 56),  # under 60 counts as 60
        (None, None, 54, 56),  # missing: default 60
        (120, 30, 84, 86),  # counted from issued_at, not receipt
        (60, 3600, 9, 11),  # a badly skewed issued_at still leaves a short use
    ],
)
def test_token_caching_and_expiry(
    fake: Fake,
    session: requests.Session,
    expires_in: int | None,
    issued_ago: int | None,
    still_cached_at: float,
    renewed_at: float,
) -> None:
    fake.expires_in = expires_in
    if issued_ago is not None:
        issued = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=issued_ago)
        fake.issued_at = issued.strftime("%Y-%m-%dT%H:%M:%S.%f123Z")  # Go-style nanoseconds
    clock = Clock()
    auth = make_auth(fake, session, clock=clock)
    _learn(auth, fake, session)
    first = auth.headers_for(PULL_A)
    assert len(fake.token_hits()) == 1
    clock.now += still_cached_at
    assert auth.headers_for(PULL_A) == first
    assert len(fake.token_hits()) == 1
    clock.now += renewed_at - still_cached_at
    second = auth.headers_for(PULL_A)
    assert second != first
    assert len(fake.token_hits()) == 2


def test_scope_merge_and_cover(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session, Credential("alice", SECRET))
    _learn(auth, fake, session)
    fake.hits.clear()
    header = auth.headers_for(["repository:a/b:push", "repository:a/b:pull", "repository:x:pull"])
    (token_hit,) = fake.token_hits()
    assert token_hit.params["scope"] == ["repository:a/b:pull,push", "repository:x:pull"]
    # Anything covered by that token reuses it.
    assert auth.headers_for(["repository:x:pull"]) == header
    assert auth.headers_for(["repository:a/b:push"]) == header
    assert len(fake.token_hits()) == 1
    # A new resource needs a new token.
    assert auth.headers_for(["repository:y:pull"]) != header
    assert len(fake.token_hits()) == 2


def test_scope_from_challenge_is_added(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session)
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", [])
    assert response.status_code == 200
    assert fake.token_hits()[0].params["scope"] == ["repository:a/b:pull"]


def test_new_scope_is_a_new_challenge(fake: Fake, session: requests.Session) -> None:
    """A token good for pull, then a push: insufficient_scope -> fetch once more -> ok."""
    auth = make_auth(fake, session, Credential("alice", SECRET))
    _learn(auth, fake, session)
    pull_header = auth.headers_for(PULL_A)
    # The transport (wrongly) sends the pull token for a push; the 401 must lead to a retry.
    response = session.put(f"{fake.url}/v2/a/b/manifests/latest", headers=pull_header)
    assert response.status_code == 401
    assert auth.handle_challenge(response, PUSH_A) is True
    retry = session.put(f"{fake.url}/v2/a/b/manifests/latest", headers=auth.headers_for(PUSH_A))
    assert retry.status_code == 200


def test_invalid_token_is_renewed_once(fake: Fake, session: requests.Session) -> None:
    clock = Clock()
    auth = make_auth(fake, session, clock=clock)
    _learn(auth, fake, session)
    with fake.lock:
        fake.revoked.update(fake.tokens)
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    assert len(fake.token_hits()) == 2
    # The renewed token failing at once with the challenge it answered: give up.
    fake.reject_all_tokens = True
    fake.hits.clear()
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 401
    assert len(fake.token_hits()) == 0
    assert len(fake.registry_hits()) == 1
    # The rejected token was dropped: the next request fetches one up front, and its
    # failure is worth exactly one renewal and one retry.
    fake.hits.clear()
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 401
    assert len(fake.token_hits()) == 2
    assert len(fake.registry_hits()) == 2


def test_same_challenge_much_later_is_renewed(fake: Fake, session: requests.Session) -> None:
    clock = Clock()
    auth = make_auth(fake, session, clock=clock)
    _learn(auth, fake, session)
    url = f"{fake.url}/v2/a/b/manifests/latest"
    with fake.lock:
        fake.revoked.update(fake.tokens)
    assert send(auth, session, "GET", url, PULL_A).status_code == 200
    # The renewed token answered an invalid_token challenge; two minutes later it is revoked
    # too. Same challenge, but not a loop: renew once more.
    clock.now += 120
    with fake.lock:
        fake.revoked.update(fake.tokens)
    fake.hits.clear()
    assert send(auth, session, "GET", url, PULL_A).status_code == 200
    assert len(fake.token_hits()) == 1
    assert len(fake.registry_hits()) == 2


def test_same_challenge_returns_false(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session)
    url = f"{fake.url}/v2/a/b/manifests/latest"
    first = session.put(url, headers=auth.headers_for(PUSH_A))
    assert auth.handle_challenge(first, PUSH_A) is True
    second = session.put(url, headers=auth.headers_for(PUSH_A))
    assert second.status_code == 401
    assert auth.handle_challenge(second, PUSH_A) is False
    assert auth.handle_challenge(second, PUSH_A) is False
    assert len(fake.token_hits()) == 1


def test_concurrent_requests_fetch_one_token(fake: Fake, session: requests.Session) -> None:
    auth = make_auth(fake, session)
    _learn(auth, fake, session)
    fake.hits.clear()
    barrier = threading.Barrier(8)
    results: list[dict[str, str]] = []

    def work() -> None:
        barrier.wait()
        results.append(auth.headers_for(["repository:new:pull"]))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.token_hits()) == 1
    assert len({r["Authorization"] for r in results}) == 1


# -- Basic and static tokens -----------------------------------------------------------------


def test_basic_challenge(fake: Fake, session: requests.Session) -> None:
    fake.mode = "basic"
    auth = make_auth(fake, session, Credential("alice", SECRET))
    assert auth.headers_for(PULL_A) == {}  # nothing is sent before the host asks
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    assert _basic(auth.headers_for(PULL_A)["Authorization"]) == ("alice", SECRET)
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


# -- realms and hosts -----------------------------------------------------------------------


Handler = Callable[[requests.PreparedRequest], tuple[int, dict[str, str], bytes]]


class CannedAdapter(BaseAdapter):
    """Answers requests without a network; records them."""

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests.append(request)
        status, headers, body = self.handler(request)
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response._content = body
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def token_answer(_: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, b'{"token": "canned"}'


def canned_session(handler: Handler = token_answer) -> tuple[requests.Session, CannedAdapter]:
    session = requests.Session()
    session.trust_env = False
    adapter = CannedAdapter(handler)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter


def make_401(url: str, *challenges: str, sent: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = 401
    response.url = url
    response.headers = CaseInsensitiveDict({"WWW-Authenticate": ", ".join(challenges)})
    headers = {"Authorization": sent} if sent else {}
    response.request = requests.Request("GET", url, headers=headers).prepare()
    return response


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


def test_realm_on_another_host_gets_credentials(fake: Fake, session: requests.Session) -> None:
    """The challenge names the realm, so that host, and only it, gets the credentials."""
    fake.realm = f"http://localhost:{fake.port}/token"
    auth = make_auth(fake, session, Credential("alice", SECRET))
    response = send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)
    assert response.status_code == 200
    (token_hit,) = fake.token_hits()
    assert token_hit.host == f"localhost:{fake.port}"
    assert _basic(token_hit.authorization) == ("alice", SECRET)
    # The registry itself never saw Basic credentials, only the bearer token.
    assert all(
        h.authorization is None or h.authorization.startswith("Bearer ")
        for h in fake.registry_hits()
    )


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


def test_unreachable_token_server(session: requests.Session) -> None:
    auth = Authenticator("reg.example", session, Credential("alice", SECRET), timeout=5)
    response = make_401("https://reg.example/v2/", 'Bearer realm="http://127.0.0.1:9/token"')
    with pytest.raises(TransportError, match=r"127\.0\.0\.1:9"):
        auth.handle_challenge(response, PULL_A)


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


# -- against the real registry (tests/support harness) --------------------------------------


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
