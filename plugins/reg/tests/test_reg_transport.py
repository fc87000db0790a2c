"""The HTTP transport: retries, auth hooks, redirects, TLS and error translation."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from regfakes import FakeRegistry, Harness, MakeHarness, Reply, StandInAuth, error

from ocistore.digest import Digest
from ocistore.errors import (
    ForbiddenError,
    ManifestNotFoundError,
    RateLimitError,
    RegistryError,
    TransportError,
    UnauthorizedError,
)
from ocistore.settings import HostConfig, Settings
from ocistore_reg.plugin import parse
from ocistore_reg.retry import Backoff, RetryPolicy, parse_retry_after
from ocistore_reg.scheme import Reg


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
    assert h.sleeps == []


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
    with pytest.raises(TransportError, match=f"cannot reach {host}"):
        reg.ping(ref)
    assert len(slept) == 1


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
