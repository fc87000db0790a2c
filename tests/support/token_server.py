"""A tiny Docker/OCI token server for tests against a real registry.

distribution's ``auth.token`` mode delegates authentication to an external
service. The tests need one that runs offline, speaks both flows a client
may use (the classic ``GET /token`` and the OAuth2 ``POST /token``), and
can be bent on purpose (e.g. a POST endpoint that answers 404) so that
client fallbacks are exercised. It records what it was asked so tests can
check what the client actually sent.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization

from tests.support import pki

PULL_ONLY = frozenset({"pull"})


@dataclass(frozen=True)
class Scope:
    """One ``type:name:actions`` resource scope."""

    type: str
    name: str
    actions: tuple[str, ...]

    def render(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope | None:
    """Parse a single scope, or return None when it is malformed.

    Repository names may carry ``host:port``, so the type ends at the
    *first* colon and the actions start after the *last* one.
    """
    first, last = text.find(":"), text.rfind(":")
    if first <= 0 or first == last:
        return None
    actions = tuple(a for a in text[last + 1 :].split(",") if a)
    return Scope(type=text[:first], name=text[first + 1 : last], actions=actions)


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Parse repeated ``scope`` params, each possibly space-separated.

    GET requests repeat the parameter; the OAuth2 POST form packs several
    scopes into one space-separated value. Both are accepted everywhere.
    """
    scopes: list[Scope] = []
    for value in values:
        for item in value.split():
            scope = parse_scope(item)
            if scope is not None:
                scopes.append(scope)
    return scopes


@dataclass(frozen=True)
class RecordedRequest:
    """What one request to the token server looked like."""

    method: str
    path: str
    params: dict[str, list[str]]
    basic_auth: bool
    basic_username: str | None
    status: int


@dataclass
class TokenServerSettings:
    """Knobs tests may flip on a running server (see ``TokenServer.override``)."""

    post_enabled: bool = True
    """When False, ``POST /token`` answers 404 like a GET-only server."""
    require_client_id: bool = True
    """The OAuth2 spec makes ``client_id`` mandatory on POST; 400 without it."""
    expires_in: int = 300
    """Lifetime of access tokens in seconds (the spec says never below 60)."""


class TokenServer:
    """Threaded HTTP token server on 127.0.0.1 with an RS256 signing key."""

    def __init__(
        self,
        *,
        service: str = "ocistore-test-registry",
        issuer: str = "ocistore-test-issuer",
        users: dict[str, str] | None = None,
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.users: dict[str, str] = dict(users or {})
        self.settings = TokenServerSettings()
        self._key = pki.new_rsa_key()
        self.key_id = pki.libtrust_key_id(self._key.public_key())
        self._cert = pki.self_signed_cert(self._key, "ocistore test token signer")
        self._requests: list[RecordedRequest] = []
        self._refresh_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------

    def start(self) -> None:
        """Bind an ephemeral loopback port and serve in a daemon thread."""
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="token-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TokenServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("token server is not running")
        return int(self._httpd.server_address[1])

    @property
    def realm(self) -> str:
        """The URL to configure as the registry's ``auth.token.realm``."""
        return f"http://127.0.0.1:{self.port}/token"

    def write_root_cert_bundle(self, path: Path) -> Path:
        """Write the signing certificate for ``auth.token.rootcertbundle``."""
        path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        return path

    # -- test knobs ----------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received since the last reset."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Restore default settings and forget recorded requests.

        Refresh tokens survive, as they would on a real server.
        """
        with self._lock:
            self.settings = TokenServerSettings()
            self._requests.clear()

    @contextlib.contextmanager
    def override(self, **changes: Any) -> Iterator[TokenServerSettings]:
        """Temporarily change settings, e.g. ``override(post_enabled=False)``.

        The server is shared by a whole test session, so changes must not
        leak into other tests; the previous settings come back on exit.
        """
        with self._lock:
            previous = self.settings
            current = TokenServerSettings(**{**previous.__dict__, **changes})
            self.settings = current
        try:
            yield current
        finally:
            with self._lock:
                self.settings = previous

    # -- token logic ---------------------------------------------------

    def check_password(self, username: str, password: str) -> bool:
        expected = self.users.get(username)
        return expected is not None and secrets.compare_digest(expected, password)

    def grant(self, username: str | None, requested: list[Scope]) -> list[Scope]:
        """Decide access: known users get what they ask, anonymous pull only."""
        if username is not None:
            return list(requested)
        return [
            Scope(s.type, s.name, tuple(a for a in s.actions if a in PULL_ONLY)) for s in requested
        ]

    def issue_refresh_token(self, username: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[token] = username
        return token

    def user_for_refresh_token(self, token: str) -> str | None:
        with self._lock:
            return self._refresh_tokens.get(token)

    def mint(
        self, username: str | None, access: list[Scope], audience: str
    ) -> tuple[str, int, str]:
        """Sign an access token; returns (jwt, expires_in, issued_at RFC 3339)."""
        now = int(time.time())
        expires_in = self.settings.expires_in
        claims = {
            "iss": self.issuer,
            "sub": username or "",
            "aud": audience,  # distribution 2.8 only accepts a plain string
            "exp": now + expires_in,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": [
                {"type": s.type, "name": s.name, "actions": list(s.actions)} for s in access
            ],
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})
        issued_at = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return token, expires_in, issued_at

    def _record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(entry)


@dataclass
class _Reply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Decode an ``Authorization: Basic`` header; None if absent/garbled."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = raw.partition(":")
    return (username, password) if sep else None


def _unauthorized(message: str) -> _Reply:
    return _Reply(
        401,
        {"errors": [{"code": "UNAUTHORIZED", "message": message}]},
        {"WWW-Authenticate": 'Basic realm="ocistore-test-token"'},
    )


def _handle_get(
    server: TokenServer, params: dict[str, list[str]], creds: tuple[str, str] | None
) -> _Reply:
    """Classic Docker token flow: optional Basic auth, repeated ``scope``."""
    username: str | None = None
    if creds is not None:
        if not server.check_password(*creds):
            return _unauthorized("invalid username or password")
        username = creds[0]
    scopes = server.grant(username, parse_scopes(params.get("scope", [])))
    audience = params.get("service", [server.service])[0]
    token, expires_in, issued_at = server.mint(username, scopes, audience)
    body: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": issued_at,
    }
    if username is not None and params.get("offline_token", [""])[0].lower() == "true":
        body["refresh_token"] = server.issue_refresh_token(username)
    return _Reply(200, body)


def _oauth_error(status: int, error: str, description: str) -> _Reply:
    return _Reply(status, {"error": error, "error_description": description})


def _handle_post(server: TokenServer, form: dict[str, list[str]]) -> _Reply:
    """OAuth2 flow: ``password`` and ``refresh_token`` grants."""
    settings = server.settings
    if not settings.post_enabled:
        return _Reply(404, {"error": "not_found"})

    def first(name: str) -> str:
        return form.get(name, [""])[0]

    if settings.require_client_id and not first("client_id"):
        return _oauth_error(400, "invalid_request", "client_id is required")
    grant_type = first("grant_type")
    refresh_token: str | None = None
    if grant_type == "password":
        if not server.check_password(first("username"), first("password")):
            return _oauth_error(401, "invalid_grant", "invalid username or password")
        username = first("username")
        if first("access_type") == "offline":
            refresh_token = server.issue_refresh_token(username)
    elif grant_type == "refresh_token":
        found = server.user_for_refresh_token(first("refresh_token"))
        if found is None:
            return _oauth_error(401, "invalid_grant", "unknown refresh token")
        username = found
        refresh_token = first("refresh_token")  # spec: echo the same one back
    else:
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r}")

    scopes = server.grant(username, parse_scopes(form.get("scope", [])))
    token, expires_in, issued_at = server.mint(username, scopes, first("service") or server.service)
    body: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "issued_at": issued_at,
        "scope": " ".join(s.render() for s in scopes),
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return _Reply(200, body)


def _make_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    """Bind a request handler class to ``server`` (http.server wants a class)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silence per-request stderr lines; tests inspect ``requests``."""

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            params = parse_qs(url.query, keep_blank_values=True)
            creds = _basic_credentials(self.headers.get("Authorization"))
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", errors="replace")
                for key, values in parse_qs(raw, keep_blank_values=True).items():
                    params.setdefault(key, []).extend(values)
            if url.path != "/token":
                reply = _Reply(404, {"error": "not_found"})
            elif method == "GET":
                reply = _handle_get(server, params, creds)
            else:
                reply = _handle_post(server, params)
            server._record(
                RecordedRequest(
                    method=method,
                    path=url.path,
                    params=params,
                    basic_auth=creds is not None,
                    basic_username=creds[0] if creds else None,
                    status=reply.status,
                )
            )
            payload = json.dumps(reply.body).encode("utf-8")
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

    return Handler
