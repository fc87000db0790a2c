"""A small fake registry + token server on 127.0.0.1, and canned answers, for the auth tests.

One port plays both roles (``/v2/...`` is the registry, ``/token...`` the token server), and
every behaviour a test may flip is a field of :class:`Fake`, so a test reads as "set this knob,
then watch what the authenticator sends". Requests that must not reach the network (foreign
realms) go through :class:`CannedAdapter` instead. Shared by the ``test_auth*.py`` modules (fixtures in this folder's conftest); the
real-registry tests use ``tests/support`` instead.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from ocistore_reg.auth import Authenticator
from ocistore_reg.credentials import Credential

SECRET = "pa55-Wörd:with-colon"
REFRESH = "refresh-abc-123"
SERVICE = "fake-registry"
PULL_A = ["repository:a/b:pull"]
PUSH_A = ["repository:a/b:pull,push"]


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


def basic_pair(header: str | None) -> tuple[str, str] | None:
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
            creds = basic_pair(auth)
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
            creds = basic_pair(auth)
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


@contextlib.contextmanager
def serve_fake() -> Iterator[Fake]:
    """Run a :class:`Fake` on a free loopback port until the block ends."""
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


@contextlib.contextmanager
def loopback_session() -> Iterator[requests.Session]:
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


def learn(auth: Authenticator, fake: Fake, session: requests.Session) -> None:
    """Let the authenticator see one challenge (one token fetch)."""
    send(auth, session, "GET", f"{fake.url}/v2/a/b/manifests/latest", PULL_A)


# -- canned answers, no network ---------------------------------------------------------------


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
