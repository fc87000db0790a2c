"""A canary password in docker's config.json must never escape to where it does not belong.

What is tried, and what must hold:

* **outputs**: the command line at every ``-v`` level, against the real htpasswd and token
  registries, for copies, listings and failures (wrong password, missing tag, unreachable
  host); in-process, every log record at DEBUG, every exception text and the ``repr`` of the
  scheme's objects. Neither the password nor ``base64(user:password)`` may appear.
* **files**: nothing the command line writes (the target layout, the working directory) holds
  the canary.
* **other hosts** (fakes, since the real registry does not redirect or hand out foreign
  Locations; ``127.0.0.1``, ``127.0.0.2`` and ``localhost`` are three different hosts): a
  redirect, an upload ``Location`` or a token realm on another host gets no ``Authorization``
  header; the registry itself does (the positive control), and so does a realm on the
  registry's own host name at another port.
* **plain HTTP**: Basic credentials go over plain HTTP only to loopback hosts or hosts the user
  named (``--plain-http``/``tls="disabled"``); any other host is HTTPS.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ocistore.client import Client
from ocistore.digest import Digest
from ocistore.errors import OCIStoreError
from ocistore.settings import Settings
from ocistore.testing.content import oci_image, push
from tests.support.registry import RunningRegistry
from tests.test_cli import run, seed

pytestmark = pytest.mark.registry

USER = "alice"


def forms(user: str, password: str) -> list[str]:
    """The ways the secret could show: as is, and as the Basic header's base64."""
    pair = f"{user}:{password}".encode()
    return [password, base64.b64encode(pair).decode(), base64.urlsafe_b64encode(pair).decode()]


def write_docker_config(home: Path, host: str, user: str, password: str) -> Path:
    config = home / ".docker"
    config.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return config


def assert_absent(secrets: list[str], where: str, text: str) -> None:
    for secret in secrets:
        assert secret not in text, f"the canary leaked into {where}"


def files_under(*roots: Path, skip: Path | None = None) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and (skip is None or skip not in path.parents):
                yield path


# -- outputs and files: the command line against the real registries --------------------------
@pytest.mark.parametrize("variant", ["basic", "token"])
def test_the_canary_never_shows_in_cli_output_or_files(
    variant: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    registry: RunningRegistry = request.getfixturevalue(f"registry_{variant}")
    assert registry.username is not None
    assert registry.password is not None
    good = forms(registry.username, registry.password)
    wrong_password = registry.password[::-1] + "-canary"
    home = tmp_path / "home"
    write_docker_config(home, registry.host, registry.username, registry.password)
    work = tmp_path / "work"
    work.mkdir()
    source = seed(tmp_path / "src", "v1", oci_image(f"canary-{variant}"))
    target = f"{registry.host}/canary/{variant}"

    def cli(*args: str, expect: int | None = 0) -> str:
        # The working directory is the home: DOCKER_CONFIG points at its .docker (cli_env).
        result = run(*args, cwd=home, expect=expect)
        return result.stdout.decode(errors="replace") + result.stderr

    tried = 0
    for level in ([], ["-v"], ["-vv"], ["-vvv"]):
        for args, expect in (
            (["image", "copy", source, f"{target}:v1"], 0),
            (["image", "copy", f"{target}:v1", f"ocidir://{work / 'out'}:v1"], 0),
            (["tag", "ls", target], 0),
            (["manifest", "get", f"{target}:no-such-tag"], None),
            (["image", "copy", source, f"{registry.host}/canary/{'x' * 300}:v1"], None),
        ):
            assert_absent(
                good, f"ocistore {' '.join([*level, *args])}", cli(*level, *args, expect=expect)
            )
            tried += 1
    # A wrong password is a canary too (it is what a typo looks like).
    write_docker_config(home, registry.host, registry.username, wrong_password)
    bad = forms(registry.username, wrong_password)
    for level in ([], ["-vv"]):
        out = cli(*level, "tag", "ls", target, expect=None)
        assert any(word in out.lower() for word in ("unauthori", "rejected", "401")), out
        assert_absent(bad, "the output of a refused login", out)
        tried += 1
    for path in files_under(work, tmp_path / "src", home, skip=home / ".docker"):
        data = path.read_bytes()
        for secret in (*good, *bad):
            assert secret.encode() not in data, f"the canary was written to {path}"
    print(f"\ncanary ({variant}): {tried} command lines, every -v level, no leak")


def test_the_canary_never_shows_in_logs_exceptions_or_reprs(
    registry_basic: RunningRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert registry_basic.username is not None
    assert registry_basic.password is not None
    secrets = forms(registry_basic.username, registry_basic.password)
    config = write_docker_config(
        tmp_path, registry_basic.host, registry_basic.username, registry_basic.password
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with Client(settings=Settings()) as client:
        ref = client.parse(f"{registry_basic.host}/canary/inproc:v1")
        image = oci_image("canary-inproc")
        push(client.scheme(ref), ref, image)
        texts.append(repr(client.manifest_get(ref)))
        for failing in (
            lambda: client.manifest_get(ref.with_tag("missing")),
            lambda: client.blob_get(ref.bare(), Digest.from_bytes(b"nothing")),
            lambda: client.scheme(ref).blob_put(
                ref.bare(), Digest.from_bytes(b"a"), io.BytesIO(b"b"), 1
            ),
        ):
            with pytest.raises(OCIStoreError) as info:
                failing()
            texts += [str(info.value), repr(info.value), str(info.value.hint)]
        scheme = client.scheme(ref)
        transport = scheme.transport(ref)  # type: ignore[attr-defined]
        texts += [repr(scheme), repr(transport), repr(transport.auth), repr(vars(transport))]
    texts += [record.getMessage() for record in caplog.records]
    assert len(caplog.records) > 5, "debug logging was on, and the requests were logged"
    for text in texts:
        assert_absent(secrets, "a log line, exception or repr", text)


# -- other hosts: fakes on three loopback names ----------------------------------------------
@dataclass
class Hit:
    host: str
    method: str
    path: str
    authorization: str | None


@dataclass
class Host:
    """One fake HTTP server on ``address``; ``answer`` decides each reply."""

    address: str
    name: str
    answer: Callable[[Host, BaseHTTPRequestHandler, bytes], tuple[int, dict[str, str], bytes]]
    hits: list[Hit] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.name}:{self.port}"


@contextlib.contextmanager
def serve(host: Host) -> Iterator[Host]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host.hits.append(
                Hit(host.name, self.command, self.path, self.headers.get("Authorization"))
            )
            status, headers, data = host.answer(host, self, body)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

    server = ThreadingHTTPServer((host.address, 0), Handler)
    host.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()


PASSWORD = "canary-Pa55-Wörd"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
BLOB = b"blob bytes that live on another host"
DIGEST = Digest.from_bytes(BLOB)


def elsewhere_answer(
    host: Host, handler: BaseHTTPRequestHandler, body: bytes
) -> tuple[int, dict[str, str], bytes]:
    if handler.path.startswith("/token"):
        return 200, {"Content-Type": "application/json"}, b'{"token": "tok-from-elsewhere"}'
    if handler.path.startswith("/blob"):
        return 200, {"Content-Length": str(len(BLOB))}, BLOB
    if handler.command == "PUT":
        return 201, {"Location": f"/v2/r/blobs/{DIGEST}"}, b""
    return 404, {}, b""


def registry_answer(
    *, realm: str | None, redirect_to: str, upload_to: str
) -> Callable[[Host, BaseHTTPRequestHandler, bytes], tuple[int, dict[str, str], bytes]]:
    """A registry on 127.0.0.1 that wants Basic (or Bearer from ``realm``), redirects blob
    GETs to ``redirect_to`` and hands out upload Locations on ``upload_to``."""

    def answer(
        host: Host, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        sent = handler.headers.get("Authorization")
        if realm is None:
            ok = sent == BASIC
            challenge = 'Basic realm="fake"'
        else:
            ok = sent is not None and sent.startswith("Bearer ")
            challenge = f'Bearer realm="{realm}",service="fake",scope="repository:r:pull,push"'
        if not ok:
            return 401, {"WWW-Authenticate": challenge}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        if handler.command == "HEAD":
            return 404, {}, b""
        if handler.path.startswith("/v2/r/blobs/uploads/"):
            return 202, {"Location": f"{upload_to}/upload/1", "Range": "0-0"}, b""
        if handler.path.startswith("/v2/r/blobs/"):
            return 307, {"Location": f"{redirect_to}/blob/{DIGEST}"}, b""
        return 200, {}, b"{}"

    return answer


def fake_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: str) -> Client:
    monkeypatch.setenv(
        "DOCKER_CONFIG", str(write_docker_config(tmp_path, registry, USER, PASSWORD))
    )
    return Client(settings=Settings(options={"reg": {"retries": 1}}))


def exercise(client: Client, registry: str) -> None:
    """A blob read (redirected) and a blob upload (to the Location); either may be refused."""
    ref = client.parse(f"{registry}/r")
    with contextlib.suppress(OCIStoreError), client.blob_get(ref, DIGEST, size=len(BLOB)) as got:
        assert got.read() == BLOB
    with contextlib.suppress(OCIStoreError):
        client.scheme(ref).blob_put(ref, DIGEST, io.BytesIO(BLOB), len(BLOB))


@pytest.mark.parametrize("other_name", ["127.0.0.2", "localhost"])
def test_redirects_and_upload_locations_to_another_host_get_no_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_name: str
) -> None:
    address = "127.0.0.1" if other_name == "localhost" else other_name
    other = Host(address, other_name, elsewhere_answer)
    with serve(other):
        answer = registry_answer(realm=None, redirect_to=other.url, upload_to=other.url)
        with serve(Host("127.0.0.1", "127.0.0.1", answer)) as registry:
            registry_host = f"127.0.0.1:{registry.port}"
            with fake_client(tmp_path, monkeypatch, registry_host) as client:
                exercise(client, registry_host)
    assert any(h.authorization == BASIC for h in registry.hits), "the registry got them"
    assert other.hits, f"the fake sent the client to {other.url}"
    assert not [h for h in other.hits if h.authorization], f"credentials reached {other.url}"


@pytest.mark.parametrize("other_name", ["127.0.0.2", "localhost"])
def test_a_token_realm_on_another_host_gets_no_basic_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_name: str
) -> None:
    address = "127.0.0.1" if other_name == "localhost" else other_name
    other = Host(address, other_name, elsewhere_answer)
    with serve(other):
        answer = registry_answer(
            realm=f"{other.url}/token", redirect_to=other.url, upload_to=other.url
        )
        with serve(Host("127.0.0.1", "127.0.0.1", answer)) as registry:
            registry_host = f"127.0.0.1:{registry.port}"
            with fake_client(tmp_path, monkeypatch, registry_host) as client:
                exercise(client, registry_host)
    tokens = [h for h in other.hits if h.path.startswith("/token")]
    assert tokens, "the realm was asked for a token"
    assert not [h for h in other.hits if h.authorization], f"credentials reached {other.url}"
    assert all("account=" not in h.path for h in tokens), "not even the user name"


def test_a_token_realm_on_the_registrys_own_host_name_gets_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The positive control: the same host name at another port (a token server beside the
    registry, as the real token fixture runs) is the host the credentials are for."""
    realm_host = Host("127.0.0.1", "127.0.0.1", elsewhere_answer)
    with serve(realm_host):
        answer = registry_answer(realm=f"{realm_host.url}/token", redirect_to="", upload_to="")
        with serve(Host("127.0.0.1", "127.0.0.1", answer)) as registry:
            registry_host = f"127.0.0.1:{registry.port}"
            with fake_client(tmp_path, monkeypatch, registry_host) as client:
                ref = client.parse(f"{registry_host}/r")
                client.scheme(ref).ping(ref)
    assert [h.authorization for h in realm_host.hits if h.path.startswith("/token")] == [BASIC]


# -- plain HTTP ------------------------------------------------------------------------------
def test_plain_http_only_for_loopback_or_hosts_the_user_named() -> None:
    from ocistore.settings import HostConfig
    from ocistore_reg.scheme import Reg

    named = Settings(
        hosts={"registry.example.com": HostConfig("registry.example.com", tls="disabled")}
    )
    cases = [
        ("127.0.0.1:5000", Settings(), "http"),
        ("localhost:5000", Settings(), "http"),
        ("[::1]:5000", Settings(), "http"),
        ("registry.example.com", Settings(), "https"),
        ("10.0.0.7:5000", Settings(), "https"),
        ("registry.example.com", named, "http"),
        ("other.example.com", named, "https"),
    ]
    for host, settings, scheme in cases:
        reg = Reg(settings)
        ref = reg_ref(host)
        assert reg.transport(ref).base_url.startswith(f"{scheme}://"), host


def reg_ref(host: str) -> Any:
    from ocistore_reg.plugin import parse

    return parse(f"{host}/r")


def test_a_plain_http_realm_on_another_host_is_refused_or_gets_nothing() -> None:
    """An https registry naming an http realm elsewhere: refused before anything is sent."""
    from ocistore.errors import AuthError
    from ocistore_reg.realms import checked_realm

    with pytest.raises(AuthError, match="https"):
        checked_realm(
            "http://auth.example.com/token",
            "https://registry.example.com/v2/",
            "registry.example.com",
        )
