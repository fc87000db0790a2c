"""The HTTP transport: retries, auth hooks, redirects, TLS and error translation."""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path
from typing import IO, cast

import pytest
import requests
import urllib3
from regfakes import (
    FakeRegistry,
    HangUpServer,
    Harness,
    MakeHarness,
    Reply,
    StandInAuth,
    error,
)

from ocistore.digest import Digest
from ocistore.errors import (
    ForbiddenError,
    ManifestNotFoundError,
    RateLimitError,
    RegistryError,
    TransportError,
    UnauthorizedError,
)
from ocistore.ref import Ref
from ocistore.settings import HostConfig, Settings
from ocistore_reg.plugin import parse
from ocistore_reg.retry import Backoff, RetryPolicy, parse_retry_after
from ocistore_reg.scheme import Reg
from ocistore_reg.translate import Failure, classify, transport_error


def test_every_request_asks_for_identity_encoding_and_names_the_agent(harness: Harness) -> None:
    harness.reg.ping(harness.ref("a"))
    (seen,) = harness.fake.seen("GET", "^/v2/$")
    assert seen.headers["Accept-Encoding"] == "identity"
    assert seen.headers["User-Agent"] == "ocistore"


def test_429_is_retried_after_the_delay_the_server_asks_for(harness: Harness) -> None:
    harness.fake.inject("GET", "^/v2/$", Reply(429, b"", {"Retry-After": "3"}), times=2)
    harness.reg.ping(harness.ref("a"))
    assert harness.sleeps == [3.0, 3.0]
    assert len(harness.fake.seen("GET", "^/v2/$")) == 3


def test_retry_after_beyond_the_time_budget_fails_at_once(make_harness: MakeHarness) -> None:
    h = make_harness(options={"retry_total": 5})
    h.fake.inject("GET", "^/v2/$", Reply(429, b"", {"Retry-After": "60"}), times=None)
    with pytest.raises(RateLimitError) as info:
        h.reg.ping(h.ref("a"))
    assert info.value.status == 429
    assert info.value.retry_after == 60.0, "the caller learns how long the server asked for"
    assert h.sleeps == []


@pytest.mark.parametrize(
    ("status", "header", "expected", "kind"),
    [
        (429, "7", 7.0, RateLimitError),
        (503, "2", 2.0, RegistryError),
        (503, "Wed, 21 Oct 2015 07:28:00 GMT", 0.0, RegistryError),  # a date in the past
        (429, None, None, RateLimitError),
        (503, "soon", None, RegistryError),
        (502, "5", None, RegistryError),  # Retry-After is defined for 429 and 503 only
    ],
)
def test_retry_after_of_the_last_answer_is_carried_on_the_error(
    make_harness: MakeHarness,
    status: int,
    header: str | None,
    expected: float | None,
    kind: type[RegistryError],
) -> None:
    h = make_harness(options={"retries": 2})
    headers = {"Retry-After": header} if header else {}
    h.fake.inject("HEAD", "/blobs/", Reply(status, b"", headers), times=None)
    with pytest.raises(kind) as info:
        h.reg.blob_head(h.ref("a/b"), Digest.from_bytes(b"x"))
    assert info.value.status == status
    assert info.value.retry_after == expected


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_transient_statuses_are_retried_with_growing_jittered_delays(
    harness: Harness, status: int
) -> None:
    harness.fake.inject("GET", "^/v2/$", Reply(status), times=3)
    harness.reg.ping(harness.ref("a"))
    assert len(harness.sleeps) == 3
    # base 0.5 s doubling, each jittered between half and all of its cap
    for delay, cap in zip(harness.sleeps, (0.5, 1.0, 2.0), strict=True):
        assert cap / 2 <= delay <= cap


def test_retries_are_bounded_and_the_last_error_carries_status_and_codes(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(options={"retries": 3})
    h.fake.inject("GET", "^/v2/$", error(503, "UNAVAILABLE", "down for maintenance"), times=None)
    with pytest.raises(RegistryError) as info:
        h.reg.ping(h.ref("a"))
    assert info.value.status == 503
    assert info.value.codes == ("UNAVAILABLE",)
    assert "down for maintenance" in str(info.value)
    assert len(h.fake.seen("GET", "^/v2/$")) == 3


def test_other_client_errors_are_not_retried(harness: Harness) -> None:
    harness.fake.inject("GET", "^/v2/$", error(400, "NAME_INVALID"), times=None)
    with pytest.raises(RegistryError):
        harness.reg.ping(harness.ref("a"))
    assert len(harness.fake.seen("GET", "^/v2/$")) == 1


def test_retry_policy_respects_attempts_and_deadline() -> None:
    slept: list[float] = []
    backoff = Backoff(
        RetryPolicy(attempts=3, delay=1, max_delay=1.5, total=100), sleep=slept.append
    )
    backoff.next_attempt()
    assert backoff.wait()
    backoff.next_attempt()
    assert backoff.wait()
    backoff.next_attempt()
    assert not backoff.wait()
    assert len(slept) == 2
    assert 0.5 <= slept[0] <= 1
    assert 0.75 <= slept[1] <= 1.5


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


def test_connection_refused_is_retried_then_reported_as_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reg = Reg(Settings(options={"reg": {"retries": 2}}))
    host = f"127.0.0.1:{port}"
    slept: list[float] = []
    ref = parse(f"{host}/a")
    reg.transport(ref).sleep = slept.append
    with pytest.raises(TransportError, match=f"ping {host}: cannot connect to {host}: ") as info:
        reg.ping(ref)
    assert "refused" in str(info.value)
    assert "HTTPConnection" not in str(info.value), "urllib3's object repr is left out"
    assert len(slept) == 1


# -- where a request failed: connecting, the TLS handshake, or after -----------------------------
def _reg_for(server: HangUpServer, **options: float) -> tuple[Reg, Ref, list[float]]:
    if server.ca_file is not None:
        config = HostConfig(server.host, tls="enabled", ca_file=str(server.ca_file))
    else:
        config = HostConfig(server.host, tls="disabled")
    settings = Settings(options={"reg": {"retries": 2, **options}}).with_host(config)
    reg = Reg(settings, auth_factory=lambda *a: StandInAuth())
    ref = parse(f"{server.host}/a/b")
    slept: list[float] = []
    reg.transport(ref).sleep = slept.append
    return reg, ref, slept


class OneWay(io.RawIOBase):
    """A reader that cannot seek, so a request body made from it is sent only once."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        b[: len(data)] = data
        return len(data)


def test_a_connection_reset_mid_upload_is_a_lost_connection_not_an_unreachable_host(
    harness: Harness, fake: FakeRegistry
) -> None:
    with HangUpServer("reset-body") as far:
        session = Reply(202, b"", {"Location": f"{far.url}/upload/abc?_state=secret"})
        fake.inject("POST", "/blobs/uploads/", session)
        data = os.urandom(4 * 1024 * 1024)
        reader = cast("IO[bytes]", OneWay(data))
        with pytest.raises(TransportError) as info:
            harness.reg.blob_put(harness.ref("a/b"), Digest.from_bytes(data), reader, len(data))
    message = str(info.value)
    assert f"connection lost during PUT {far.url}/upload/abc?…: " in message
    assert message.startswith("upload blob sha256:")
    assert "cannot" not in message
    assert "secret" not in message, "the session URL's query is redacted"


def test_an_answer_that_never_comes_is_a_lost_connection_and_retried(tmp_path: Path) -> None:
    with HangUpServer("no-answer") as server:
        reg, ref, slept = _reg_for(server)
        with pytest.raises(TransportError) as info:
            reg.ping(ref)
        assert server.connections == 2
    assert str(info.value) == (
        f"ping {server.host}: connection lost during GET {server.url}/v2/: "
        "Remote end closed connection without response"
    )
    assert len(slept) == 1


def test_a_lost_connection_does_not_resend_a_post_with_a_body() -> None:
    with HangUpServer("no-answer") as server:
        reg, ref, slept = _reg_for(server)
        t = reg.transport(ref)
        with pytest.raises(TransportError, match="connection lost during POST"):
            t.request("POST", t.url("/v2/a/b/blobs/uploads/"), what="open", body=b"x")
        assert server.connections == 1
    assert slept == []


def test_a_tls_connection_cut_mid_request_is_lost_and_retried(tmp_path: Path) -> None:
    """Over TLS the cut surfaces as an SSL EOF, but it is no TLS failure: the handshake was
    done, and a replayable request is sent again like any other."""
    with HangUpServer("reset-body", tls_dir=tmp_path) as server:
        reg, ref, slept = _reg_for(server)
        t = reg.transport(ref)
        url = t.url("/v2/a/b/blobs/uploads/abc?_state=s")
        with pytest.raises(TransportError) as info:
            t.request("PUT", url, what="upload", body=os.urandom(8 * 1024 * 1024))
        assert server.connections == 2
    message = str(info.value)
    assert f"upload: connection lost during PUT {server.url}/v2/a/b/blobs/uploads/abc?…" in message
    assert "TLS" not in message
    assert info.value.hint is None
    assert len(slept) == 1


def test_a_reset_during_the_tls_handshake_means_no_connection(tmp_path: Path) -> None:
    with HangUpServer("reset-handshake", tls_dir=tmp_path) as server:
        reg, ref, slept = _reg_for(server)
        with pytest.raises(TransportError) as info:
            reg.ping(ref)
        assert server.connections == 2
    message = str(info.value)
    assert message.startswith(f"ping {server.host}: cannot connect to {server.host}: ")
    assert message.endswith("(during the TLS handshake)")
    assert len(slept) == 1


def test_an_untrusted_certificate_is_a_tls_failure_and_not_retried(tmp_path: Path) -> None:
    with HangUpServer("no-answer", tls_dir=tmp_path) as server:
        config = HostConfig(server.host, tls="enabled")  # without the test CA
        reg = Reg(Settings().with_host(config), auth_factory=lambda *a: StandInAuth())
        with pytest.raises(TransportError) as info:
            reg.ping(parse(f"{server.host}/a"))
        assert server.connections == 1
    assert f"TLS handshake with {server.host} failed: " in str(info.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert info.value.hint is not None


def test_no_answer_within_the_read_timeout_says_so() -> None:
    with HangUpServer("silent") as server:
        reg, ref, _ = _reg_for(server, retries=1, read_timeout=0.2)
        with pytest.raises(TransportError) as info:
            reg.ping(ref)
    assert f"timed out waiting for the answer to GET {server.url}/v2/: " in str(info.value)
    assert "read timeout=0.2" in str(info.value)


def test_an_answer_cut_while_its_body_is_read_is_a_lost_connection(harness: Harness) -> None:
    body = b'{"schemaVersion": 2, "padding": "' + b"x" * 100_000 + b'"}'
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    harness.fake.inject("GET", "/manifests/v1", Reply(200, body, headers, body_sent=50_000))
    with pytest.raises(TransportError) as info:
        harness.reg.manifest_get(harness.ref("a/b:v1"))
    message = str(info.value)
    url = f"{harness.fake.url}/v2/a/b/manifests/v1"
    assert message.startswith(f"connection lost while reading the answer from {url}: ")
    assert "IncompleteRead" in message


def _pool_error(reason: Exception) -> urllib3.exceptions.MaxRetryError:
    return urllib3.exceptions.MaxRetryError(
        urllib3.HTTPSConnectionPool("registry.example", 443), "/v2/", reason
    )


def test_connect_failures_name_the_host_they_could_not_reach() -> None:
    conn = urllib3.connection.HTTPSConnection("registry.example", 443)
    unresolved = requests.exceptions.ConnectionError(
        _pool_error(
            urllib3.exceptions.NameResolutionError("registry.example", conn, socket.gaierror(-2))
        )
    )
    slow = requests.exceptions.ConnectTimeout(
        _pool_error(urllib3.exceptions.ConnectTimeoutError(conn, "timed out (connect timeout=15)"))
    )
    proxied = requests.exceptions.ProxyError(
        _pool_error(urllib3.exceptions.ProxyError("Unable to connect to proxy", OSError("no")))
    )
    url = "https://registry.example/v2/a/manifests/v1"
    for exc in (unresolved, slow, proxied):
        assert classify(exc) is Failure.CONNECT
    error = transport_error(unresolved, "GET manifest", url, "registry.example", method="GET")
    assert str(error).startswith("GET manifest: cannot connect to registry.example: ")
    assert "resolve" in str(error)
    error = transport_error(slow, "GET manifest", url, "registry.example", method="GET")
    assert str(error) == (
        "GET manifest: cannot connect to registry.example: timed out (connect timeout=15)"
    )
    error = transport_error(proxied, "GET manifest", url, "registry.example", method="GET")
    assert "cannot connect to registry.example through the proxy: " in str(error)


def test_the_failed_hop_of_a_redirect_is_the_one_named() -> None:
    """requests attaches the request it was sending; its method and URL win over the first."""
    prepared = requests.Request("GET", "https://cdn.example/blob?sig=s3cr3t").prepare()
    lost = requests.exceptions.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        request=prepared,
    )
    error = transport_error(
        lost, "GET blob", "https://registry.example/v2/a/blobs/x", "registry.example"
    )
    assert str(error) == (
        "GET blob: connection lost during GET https://cdn.example/blob?…: [Errno 104] reset"
    )


def test_a_tls_connection_closed_with_a_client_certificate_hints_at_it() -> None:
    """A TLS 1.3 server refusing our client certificate often shows only as EOF on first read."""
    import ssl

    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:2427)")
    closed = requests.exceptions.SSLError(urllib3.exceptions.SSLError(eof))
    url = "https://registry.example/v2/a/manifests/v1"
    error = transport_error(
        closed, "GET manifest", url, "registry.example", method="GET", client_cert=True
    )
    assert classify(closed) is Failure.LOST
    assert str(error).startswith(f"GET manifest: connection lost during GET {url}: EOF ")
    assert error.hint is not None
    assert "TLS connection was closed by registry.example" in error.hint
    assert "client certificate" in error.hint
    # Without a client certificate nothing points at one.
    plain = transport_error(closed, "GET manifest", url, "registry.example", method="GET")
    assert plain.hint is None


def test_401_goes_to_the_authenticator_once_per_new_challenge(make_harness: MakeHarness) -> None:
    auth = StandInAuth(answers=[True, True, False])
    h = make_harness(auth=auth)
    h.fake.inject("GET", "/manifests/", error(401, "UNAUTHORIZED"), times=None)
    with pytest.raises(UnauthorizedError, match="401"):
        h.reg.manifest_get(h.ref("a/b:t"))
    assert len(auth.challenges) == 3
    assert auth.challenges[0][1] == ("repository:a/b:pull",)
    assert h.sleeps == []  # challenges are not failures: no backoff


def test_after_a_challenge_is_answered_the_request_is_sent_again(make_harness: MakeHarness) -> None:
    auth = StandInAuth(header="Bearer t0k3n", answers=[True])
    h = make_harness(auth=auth)
    h.fake.inject("GET", "^/v2/$", error(401, "UNAUTHORIZED"))
    h.reg.ping(h.ref("a"))
    assert [s.headers.get("Authorization") for s in h.fake.seen("GET", "^/v2/$")] == [
        "Bearer t0k3n",
        "Bearer t0k3n",
    ]


def test_403_is_forbidden_and_404_names_the_reference(harness: Harness) -> None:
    harness.fake.inject("GET", "/manifests/", error(403, "DENIED", "no way"))
    with pytest.raises(ForbiddenError, match="no way"):
        harness.reg.manifest_get(harness.ref("a/b:t"))
    with pytest.raises(ManifestNotFoundError, match=r"a/b:t.*MANIFEST_UNKNOWN"):
        harness.reg.manifest_get(harness.ref("a/b:t"))


def test_error_bodies_are_read_only_up_to_a_cap(harness: Harness) -> None:
    huge = b"x" * (1024 * 1024)
    harness.fake.inject("GET", "^/v2/$", Reply(418, huge))
    with pytest.raises(RegistryError) as info:
        harness.reg.ping(harness.ref("a"))
    assert info.value.status == 418
    assert len(str(info.value)) < 500


def test_redirect_to_another_host_does_not_carry_authorization(
    make_harness: MakeHarness, fake: FakeRegistry
) -> None:
    with FakeRegistry(host="localhost") as other:
        data = b"layer bytes"
        digest = other.add_blob("a/b", data)
        auth = StandInAuth(header="Bearer secret")
        h = make_harness(auth=auth)
        target = f"{other.url}/v2/a/b/blobs/{digest}?sig=abc"
        fake.inject("GET", "/blobs/", Reply(307, b"", {"Location": target}))
        with h.reg.blob_get(h.ref("a/b"), Digest.parse(digest)) as reader:
            assert reader.read() == data
        (first,) = fake.seen("GET", "/blobs/")
        assert first.headers["Authorization"] == "Bearer secret"
        (followed,) = other.seen("GET", "/blobs/")
        assert "Authorization" not in followed.headers
        assert followed.path.endswith("?sig=abc")


def test_redirect_within_the_registry_keeps_authorization(
    make_harness: MakeHarness, fake: FakeRegistry
) -> None:
    data = b"same host"
    digest = fake.add_blob("a/b", data)
    auth = StandInAuth(header="Bearer secret")
    h = make_harness(auth=auth)
    fake.inject("GET", "/blobs/sha", Reply(302, b"", {"Location": f"/v2/a/b/blobs/{digest}"}))
    with h.reg.blob_get(h.ref("a/b"), Digest.parse(digest)) as reader:
        assert reader.read() == data
    assert [s.headers.get("Authorization") for s in fake.seen("GET", "/blobs/")] == [
        "Bearer secret",
        "Bearer secret",
    ]


def test_https_to_http_redirect_is_refused(tls_fake: FakeRegistry, fake: FakeRegistry) -> None:
    assert tls_fake.ca_file is not None
    config = HostConfig(tls_fake.host, tls="enabled", ca_file=str(tls_fake.ca_file))
    reg = Reg(Settings().with_host(config), auth_factory=lambda *a: StandInAuth())
    tls_fake.inject("GET", "^/v2/$", Reply(307, b"", {"Location": f"{fake.url}/v2/"}))
    with pytest.raises(RegistryError, match="downgraded"):
        reg.ping(parse(f"{tls_fake.host}/a"))
    assert fake.seen() == []


def test_redirect_loops_stop(harness: Harness) -> None:
    harness.fake.inject("GET", "^/v2/$", Reply(302, b"", {"Location": "/v2/"}), times=None)
    with pytest.raises(RegistryError, match="redirects"):
        harness.reg.ping(harness.ref("a"))


def test_tls_against_a_plain_http_server_hints_at_plain_http(fake: FakeRegistry) -> None:
    config = HostConfig(fake.host, tls="enabled")
    reg = Reg(Settings().with_host(config), auth_factory=lambda *a: StandInAuth())
    with pytest.raises(TransportError, match="server gave HTTP response to HTTPS client") as info:
        reg.ping(parse(f"{fake.host}/a"))
    assert info.value.hint is not None
    assert f"--plain-http {fake.host}" in info.value.hint


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_with_the_ca_file_works_and_without_it_fails(tls_fake: FakeRegistry) -> None:
    ref = parse(f"{tls_fake.host}/a")
    good = HostConfig(tls_fake.host, tls="enabled", ca_file=str(tls_fake.ca_file))
    Reg(Settings().with_host(good), auth_factory=lambda *a: StandInAuth()).ping(ref)
    bad = Reg(
        Settings().with_host(HostConfig(tls_fake.host)), auth_factory=lambda *a: StandInAuth()
    )
    with pytest.raises(TransportError, match="TLS") as info:
        bad.ping(ref)
    assert info.value.hint is not None
    assert "ca_file" in info.value.hint
    insecure = HostConfig(tls_fake.host, tls="insecure")
    Reg(Settings().with_host(insecure), auth_factory=lambda *a: StandInAuth()).ping(ref)


def test_loopback_hosts_default_to_plain_http_and_others_to_https(tmp_path: Path) -> None:
    reg = Reg(Settings(), auth_factory=lambda *a: StandInAuth())
    assert reg.transport(parse("127.0.0.1:5000/a")).base_url == "http://127.0.0.1:5000"
    assert reg.transport(parse("localhost:5000/a")).base_url == "http://localhost:5000"
    assert reg.transport(parse("registry.example.com/a")).base_url == "https://registry.example.com"
    assert reg.transport(parse("alpine")).base_url == "https://registry-1.docker.io"


def test_warning_headers_are_logged_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    warn = Reply(200, b"{}", {"Warning": '299 - "this registry is deprecated"'})
    harness.fake.inject("GET", "^/v2/$", warn, times=2)
    harness.reg.ping(harness.ref("a"))
    harness.reg.ping(harness.ref("a"))
    messages = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(messages) == 1


def test_close_drops_the_session_and_the_next_call_reopens(harness: Harness) -> None:
    ref = harness.ref("a")
    first = harness.reg.transport(ref)
    harness.reg.close(ref)
    assert harness.reg.transport(ref) is not first
    harness.reg.ping(ref)
