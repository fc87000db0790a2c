"""Prove the registry harness works against the real distribution registry.

These tests use plain ``requests`` on purpose: they must show that the
harness (registries, token server, certificates) is right before any
ocistore client code is trusted to run against it.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import pki
from tests.support.registry import RegistryStartError, RunningRegistry, _launch, start_registry
from tests.support.token_server import Scope, TokenServer, parse_scope, parse_scopes

# Known-answer vectors for the libtrust key ID. The key/ID pairs are the
# public fixtures of an independent libtrust port (realityone/libtrust-py,
# tests/fixtures/{ec-public,public}.pem), so agreement here is a real
# cross-check rather than our function checked against itself.
EC_PUBLIC_PEM = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4pBqYlc5IU5pJh5AOvijtEccStyJ
u0dSAiz4OlDGGFk5PvSlSh+wqUcSyp1ZRSP5kX7Pluof72g5MniaoFrLKg==
-----END PUBLIC KEY-----
"""
RSA_PUBLIC_PEM = b"""-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAwq1mCmgn460MC6MnCqra
nQNTgmKuKPl7bNH7Qc6hBDGHlnIjU6q/h2KXF37TC5Y9tsKvQ4b8jd0Sf0dXFHml
8qunSvNnqsSvoD8tSPUKqXS6jrlbGSQXhya7BL1RPGccD5K1xrV73QlI6uFPd3AP
RQYij5EOB8IOWEQujJk/8Mjc0EC9zvk5TUJb59hkOUPZ3CkvSBNLNS8wpQI98FRn
IzHjuaNicqve8054oxmDKifHWy0nnF135cXW8zkH3Zto1q89zD2g+zcVxLcRP84U
he0nSQyg7vEYl4Wl74Eo6/89qL2yE0mEiQN245ACA5B8WFV/t3j/OD3ydOCaAOg2
8vQtzcZ1gh2Ev4RxeR7bKq58g+R0+MMwl7nnW29mbCkcgdVVR4YPmglP7Vb6w7/N
bqFhnxx4E3A05AeevHdMdYCrtgQwogvIhdOHLcVQxJgwy1d2Lg/mv9rovhCJ7d3X
aNEYym6CplCHPMtfnU1LCVkA6b44pFaOVjsAQ8FviFtGXQAToRtwoszSarzslHKY
dPoSGFOsgNJgW67iViOYqGPD97rgJA0VPm0POMNHGw/R6o+08KhDF/OI1EDckmjX
hUggY/WCqWDxD77Ezd/wr9Zlbv/uSIEL9ifvBLq06lLcXMLrQbJrwMbDrngMZMAc
UkTzThmtxNs4uwu45R+zfKcCAwEAAQ==
-----END PUBLIC KEY-----
"""

KID_SHAPE = re.compile(r"^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$")


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A session that ignores proxy variables: everything here is loopback."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


def _repo() -> str:
    """Unique repository name, since registries are shared by the session."""
    return f"harness/{uuid.uuid4().hex[:12]}"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(
    http: requests.Session,
    reg: RunningRegistry,
    repo: str,
    data: bytes,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST an upload session, then PUT the whole blob with its digest."""
    started = http.post(f"{reg.url}/v2/{repo}/blobs/uploads/", headers=headers, verify=reg.verify)
    assert started.status_code == 202, started.text
    location = requests.compat.urljoin(reg.url, started.headers["Location"])
    return http.put(
        location,
        params={"digest": _digest(data)},
        data=data,
        headers={**(headers or {}), "Content-Type": "application/octet-stream"},
        verify=reg.verify,
    )


def _challenge(response: requests.Response) -> tuple[str, dict[str, str]]:
    scheme, _, rest = response.headers["WWW-Authenticate"].partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', rest))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token_server(reg: RunningRegistry) -> TokenServer:
    assert reg.token_server is not None
    return reg.token_server


# -- pure helpers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pem", "expected"),
    [
        (EC_PUBLIC_PEM, "UEV2:PPF2:4DMU:WZYF:WOWU:677P:B7XU:SGFA:BMUG:NCTC:R7CL:XFKZ"),
        (RSA_PUBLIC_PEM, "IIYO:OWAZ:MBMG:2SIK:IK2I:OP5Z:H6QR:KN6Y:QUGO:BUWN:TYW3:JXVW"),
    ],
    ids=["ec-p256", "rsa-4096"],
)
def test_libtrust_key_id_known_vectors(pem: bytes, expected: str) -> None:
    assert pki.libtrust_key_id(serialization.load_pem_public_key(pem)) == expected


def test_libtrust_key_id_shape_for_fresh_key() -> None:
    assert KID_SHAPE.match(pki.libtrust_key_id(pki.new_rsa_key().public_key()))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repository:foo/bar:pull,push", Scope("repository", "foo/bar", ("pull", "push"))),
        (
            "repository:127.0.0.1:5000/foo:pull",
            Scope("repository", "127.0.0.1:5000/foo", ("pull",)),
        ),
        (
            "repository:localhost:5000/a/b:push,pull",
            Scope("repository", "localhost:5000/a/b", ("push", "pull")),
        ),
        ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
        ("repository(plugin):x:pull", Scope("repository(plugin)", "x", ("pull",))),
        ("repository:foo:", Scope("repository", "foo", ())),
        ("repository:foo", None),
        ("nocolon", None),
        (":foo:pull", None),
    ],
)
def test_parse_scope(text: str, expected: Scope | None) -> None:
    assert parse_scope(text) == expected


def test_parse_scopes_repeated_and_space_separated() -> None:
    parsed = parse_scopes(["repository:a:pull repository:127.0.0.1:1/b:push", "registry:catalog:*"])
    assert [s.render() for s in parsed] == [
        "repository:a:pull",
        "repository:127.0.0.1:1/b:push",
        "registry:catalog:*",
    ]


# -- lifecycle --------------------------------------------------------------


@pytest.mark.registry
def test_start_registry_cleans_up_process_and_files() -> None:
    with start_registry("anon") as reg:
        root = reg.data_dir.parent
        pid = reg.pid
        assert root.is_dir()
    assert not root.exists()
    # Reaped by wait(), so the pid is gone (or, rarely, reused by something else).
    cmdline = Path(f"/proc/{pid}/cmdline")
    assert not cmdline.exists() or b"docker-registry" not in cmdline.read_bytes()


@pytest.mark.registry
def test_start_failure_reports_log_tail(tmp_path: Path) -> None:
    bad_config = {"version": "0.1", "http": {"addr": "127.0.0.1:0"}}  # no storage section
    with pytest.raises(RegistryStartError) as excinfo, _launch(tmp_path, bad_config, "http", None):
        pass
    message = str(excinfo.value)
    assert "exited with" in message
    assert "storage" in message.lower()  # the registry's own complaint is included


# -- anonymous --------------------------------------------------------------


@pytest.mark.registry
def test_anonymous_push_and_pull_blob(
    registry_anon: RunningRegistry, http: requests.Session
) -> None:
    reg, repo, data = registry_anon, _repo(), os.urandom(1024)
    assert reg.host.startswith("127.0.0.1:")
    assert reg.url == f"http://{reg.host}"
    pushed = _push_blob(http, reg, repo, data)
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["Docker-Content-Digest"] == _digest(data)
    fetched = http.get(f"{reg.url}/v2/{repo}/blobs/{_digest(data)}")
    assert fetched.status_code == 200
    assert fetched.content == data
    hexdigest = _digest(data).split(":")[1]
    on_disk = reg.data_dir / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"
    assert on_disk.read_bytes() == data  # proves the harness's temp storage is used


# -- basic auth -------------------------------------------------------------


@pytest.mark.registry
def test_basic_auth_required_and_accepted(
    registry_basic: RunningRegistry, http: requests.Session
) -> None:
    reg = registry_basic
    assert reg.username == "alice"
    assert reg.password
    anonymous = http.get(f"{reg.url}/v2/")
    assert anonymous.status_code == 401
    assert _challenge(anonymous)[0] == "Basic"
    wrong = http.get(f"{reg.url}/v2/", auth=(reg.username, reg.password + "x"))
    assert wrong.status_code == 401
    assert http.get(f"{reg.url}/v2/", auth=(reg.username, reg.password)).status_code == 200

    repo, data = _repo(), b"basic-auth-blob"
    http.auth = (reg.username, reg.password)
    assert _push_blob(http, reg, repo, data).status_code == 201
    assert http.get(f"{reg.url}/v2/{repo}/blobs/{_digest(data)}").content == data


# -- token auth -------------------------------------------------------------


@pytest.mark.registry
def test_token_challenge_then_get_flow(
    registry_token: RunningRegistry, http: requests.Session
) -> None:
    reg, server = registry_token, _token_server(registry_token)
    server.clear_requests()
    repo, data = _repo(), b"token-auth-blob"

    denied = http.post(f"{reg.url}/v2/{repo}/blobs/uploads/")
    assert denied.status_code == 401
    scheme, params = _challenge(denied)
    assert scheme == "Bearer"
    # distribution lists the actions in map order, so "pull,push" and "push,pull" both occur
    scope_type, _, rest = params["scope"].partition(":")
    scope_name, _, actions = rest.rpartition(":")
    assert (scope_type, scope_name, sorted(actions.split(","))) == (
        "repository",
        repo,
        ["pull", "push"],
    )
    assert {k: v for k, v in params.items() if k != "scope"} == {
        "realm": server.realm,
        "service": server.service,
    }

    issued = http.get(
        params["realm"],
        params={"service": params["service"], "scope": params["scope"]},
        auth=(reg.username or "", reg.password or ""),
    )
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert set(body) >= {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"]

    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == server.key_id
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["aud"] == server.service
    assert claims["iss"] == server.issuer
    [access] = claims["access"]
    assert (access["type"], access["name"]) == ("repository", repo)
    assert sorted(access["actions"]) == ["pull", "push"]  # in the order the challenge gave

    pushed = _push_blob(http, reg, repo, data, headers=_bearer(body["token"]))
    assert pushed.status_code == 201, pushed.text
    fetched = http.get(f"{reg.url}/v2/{repo}/blobs/{_digest(data)}", headers=_bearer(body["token"]))
    assert fetched.content == data

    [recorded] = server.requests
    assert recorded.method == "GET"
    assert recorded.basic_auth
    assert recorded.basic_username == "alice"
    assert recorded.params["scope"] == [params["scope"]]
    assert recorded.status == 200


@pytest.mark.registry
def test_token_anonymous_gets_pull_only(
    registry_token: RunningRegistry, http: requests.Session
) -> None:
    reg, server = registry_token, _token_server(registry_token)
    repo = _repo()
    scope = f"repository:{repo}:pull,push"
    anon = http.get(server.realm, params={"service": server.service, "scope": scope})
    assert anon.status_code == 200
    claims = jwt.decode(anon.json()["token"], options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]
    refused = http.post(
        f"{reg.url}/v2/{repo}/blobs/uploads/", headers=_bearer(anon.json()["token"])
    )
    assert refused.status_code == 401
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


@pytest.mark.registry
def test_token_wrong_password_is_401(
    registry_token: RunningRegistry, http: requests.Session
) -> None:
    server = _token_server(registry_token)
    wrong = http.get(server.realm, params={"service": server.service}, auth=("alice", "nope"))
    assert wrong.status_code == 401


@pytest.mark.registry
def test_token_multiple_scopes_and_host_port_names(
    registry_token: RunningRegistry, http: requests.Session
) -> None:
    reg, server = registry_token, _token_server(registry_token)
    issued = http.get(
        server.realm,
        params=[
            ("service", server.service),
            ("scope", f"repository:{reg.host}/x/y:pull"),
            ("scope", "registry:catalog:*"),
        ],
        auth=(reg.username or "", reg.password or ""),
    )
    claims = jwt.decode(issued.json()["token"], options={"verify_signature": False})
    assert claims["access"] == [
        {"type": "repository", "name": f"{reg.host}/x/y", "actions": ["pull"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    catalog = http.get(f"{reg.url}/v2/_catalog", headers=_bearer(issued.json()["token"]))
    assert catalog.status_code == 200


@pytest.mark.registry
def test_token_post_flow_with_refresh(
    registry_token: RunningRegistry, http: requests.Session
) -> None:
    reg, server = registry_token, _token_server(registry_token)
    server.clear_requests()
    repo_a, repo_b = _repo(), _repo()
    first = http.post(
        server.realm,
        data={
            "grant_type": "password",
            "username": reg.username,
            "password": reg.password,
            "service": server.service,
            "client_id": "ocistore-tests",
            "access_type": "offline",
            "scope": f"repository:{repo_a}:pull,push repository:{repo_b}:pull",
        },
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["scope"] == f"repository:{repo_a}:pull,push repository:{repo_b}:pull"
    assert body["refresh_token"]
    assert (
        _push_blob(
            http, reg, repo_a, b"post-flow", headers=_bearer(body["access_token"])
        ).status_code
        == 201
    )

    refreshed = http.post(
        server.realm,
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "service": server.service,
            "client_id": "ocistore-tests",
            "scope": f"repository:{repo_b}:pull,push",
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] == body["refresh_token"]
    new_token = refreshed.json()["access_token"]
    assert (
        _push_blob(http, reg, repo_b, b"refreshed", headers=_bearer(new_token)).status_code == 201
    )

    assert [(r.method, r.status, r.basic_auth) for r in server.requests] == [
        ("POST", 200, False),
        ("POST", 200, False),
    ]
    assert server.requests[1].params["grant_type"] == ["refresh_token"]


@pytest.mark.registry
@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"grant_type": "password", "username": "alice", "password": "wrong"}, 401),
        ({"grant_type": "refresh_token", "refresh_token": "never-issued"}, 401),
        ({"grant_type": "authorization_code"}, 400),
    ],
    ids=["bad-password", "unknown-refresh-token", "unsupported-grant"],
)
def test_token_post_flow_rejections(
    registry_token: RunningRegistry, http: requests.Session, form: dict[str, str], status: int
) -> None:
    server = _token_server(registry_token)
    answer = http.post(server.realm, data={**form, "service": server.service, "client_id": "t"})
    assert answer.status_code == status


@pytest.mark.registry
def test_token_post_disabled_falls_back_to_get(
    registry_token: RunningRegistry, http: requests.Session
) -> None:
    reg, server = registry_token, _token_server(registry_token)
    server.clear_requests()
    form = {
        "grant_type": "password",
        "username": reg.username,
        "password": reg.password,
        "service": server.service,
        "client_id": "ocistore-tests",
    }
    with server.override(post_enabled=False):
        assert http.post(server.realm, data=form).status_code == 404
        fallback = http.get(
            server.realm,
            params={"service": server.service},
            auth=(reg.username or "", reg.password or ""),
        )
        assert fallback.status_code == 200
    assert server.settings.post_enabled  # the override did not leak
    assert http.post(server.realm, data=form).status_code == 200
    assert [(r.method, r.status) for r in server.requests] == [
        ("POST", 404),
        ("GET", 200),
        ("POST", 200),
    ]


@pytest.mark.registry
def test_token_signature_verifies_with_bundle_cert(
    registry_token: RunningRegistry, http: requests.Session
) -> None:
    """The token must verify against the cert the registry was given."""
    reg, server = registry_token, _token_server(registry_token)
    bundle = reg.data_dir.parent / "token-signer.pem"
    cert = x509.load_pem_x509_certificate(bundle.read_bytes())
    assert pki.libtrust_key_id(cert.public_key()) == server.key_id
    token = http.get(server.realm, params={"service": server.service}).json()["token"]
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    claims = jwt.decode(token, public_key, algorithms=["RS256"], audience=server.service)
    assert claims["iss"] == server.issuer
    assert claims["jti"]
    assert claims["nbf"] <= claims["iat"] < claims["exp"]


# -- TLS --------------------------------------------------------------------


@pytest.mark.registry
def test_tls_with_and_without_ca(registry_tls: RunningRegistry, http: requests.Session) -> None:
    reg = registry_tls
    assert reg.url == f"https://{reg.host}"
    assert reg.ca_file is not None
    assert reg.ca_file.is_file()
    assert http.get(f"{reg.url}/v2/", verify=str(reg.ca_file)).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        http.get(f"{reg.url}/v2/", verify=True)
    repo, data = _repo(), b"over-tls"
    assert _push_blob(http, reg, repo, data).status_code == 201
    assert http.get(f"{reg.url}/v2/{repo}/blobs/{_digest(data)}", verify=reg.verify).content == data


# -- mutual TLS -------------------------------------------------------------


def _log_mentions(reg: RunningRegistry, text: str, since: int, timeout: float = 5.0) -> bool:
    """Wait for ``text`` in the log after byte ``since`` (Go logs a handshake after the alert).

    The log is shared by the session, so only what the test itself caused counts.
    """
    deadline = time.monotonic() + timeout
    while True:
        if text.encode() in reg.log_file.read_bytes()[since:]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.mark.registry
def test_mtls_with_the_client_certificate(
    registry_mtls: RunningRegistry, http: requests.Session
) -> None:
    reg = registry_mtls
    assert reg.url == f"https://{reg.host}"
    assert reg.ca_file is not None
    assert reg.client_tls is not None
    assert reg.cert == (str(reg.client_tls.cert_file), str(reg.client_tls.key_file))
    # The client CA is its own: the registry is not just trusting its server CA.
    assert reg.client_tls.ca_file.read_bytes() != reg.ca_file.read_bytes()
    client_cert = x509.load_pem_x509_certificate(reg.client_tls.cert_file.read_bytes())
    client_ca = x509.load_pem_x509_certificate(reg.client_tls.ca_file.read_bytes())
    assert client_cert.issuer == client_ca.subject
    usage = client_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    http.cert = reg.cert
    assert http.get(f"{reg.url}/v2/", verify=reg.verify).status_code == 200
    repo, data = _repo(), b"over-mtls"
    assert _push_blob(http, reg, repo, data).status_code == 201
    assert http.get(f"{reg.url}/v2/{repo}/blobs/{_digest(data)}", verify=reg.verify).content == data


@pytest.mark.registry
@pytest.mark.parametrize(
    ("foreign", "logged"),
    [
        (False, "client didn't provide a certificate"),
        (True, "certificate signed by unknown authority"),
    ],
    ids=["no-certificate", "foreign-ca"],
)
def test_mtls_refuses_a_missing_or_foreign_client_certificate(
    registry_mtls: RunningRegistry,
    http: requests.Session,
    tmp_path: Path,
    foreign: bool,
    logged: str,
) -> None:
    reg = registry_mtls
    cert = None
    if foreign:
        stranger = pki.write_client_tls(tmp_path / "stranger", "stranger")
        cert = (str(stranger.cert_file), str(stranger.key_file))
    since = reg.log_file.stat().st_size
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(f"{reg.url}/v2/", verify=reg.verify, cert=cert)
    assert _log_mentions(reg, logged, since)  # refused for the reason we think, not by chance
