"""Start the real CNCF distribution registry (Debian ``docker-registry``).

Tests of the ``reg`` plugin are only convincing against the registry that
real users run, so this harness launches ``/usr/bin/docker-registry``
(distribution 2.8) on 127.0.0.1 with throw-away storage in one of five
variants: anonymous, htpasswd Basic auth, token auth, TLS, and mutual TLS
(TLS that also demands a client certificate issued by a test CA).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import bcrypt
import requests

from tests.support import pki
from tests.support.token_server import TokenServer

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
INSTALL_HINT = "apt-get update && apt-get install -y docker-registry"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
USERNAME = "alice"

Variant = Literal["anon", "basic", "token", "tls", "mtls"]


class RegistryStartError(RuntimeError):
    """The registry did not come up; the message carries the log tail."""


@dataclass(frozen=True)
class RunningRegistry:
    """Everything a test needs to talk to one running registry."""

    variant: Variant
    host: str
    """``127.0.0.1:PORT`` - what goes in an image reference."""
    url: str
    """``http(s)://127.0.0.1:PORT`` without a trailing slash."""
    data_dir: Path
    """The filesystem driver's root directory."""
    log_file: Path
    pid: int
    """The registry process id (for checks that it really stopped)."""
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    """CA bundle to verify the TLS variants with (None for plain HTTP)."""
    token_server: TokenServer | None = None
    client_tls: pki.ClientTLS | None = None
    """The mTLS variant's client CA and a client certificate + key it accepts."""

    @property
    def verify(self) -> str | bool:
        """Value for ``requests``' ``verify=`` argument."""
        return str(self.ca_file) if self.ca_file is not None else True

    @property
    def cert(self) -> tuple[str, str] | None:
        """Value for ``requests``' ``cert=`` argument (None unless mTLS)."""
        if self.client_tls is None:
            return None
        return str(self.client_tls.cert_file), str(self.client_tls.key_file)


def _free_port() -> int:
    """Ask the kernel for an unused loopback port.

    The registry cannot be told to pick its own port and report it, so
    there is a small window in which another process could take it;
    ``start_registry`` retries when that happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_env() -> dict[str, str]:
    """Environment for the registry process.

    distribution lets ``REGISTRY_*`` variables override the config file,
    and Go honours ``*_proxy`` variables; either leaking in from the
    developer's shell would make runs irreproducible or reach outside.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("REGISTRY_") and not k.lower().endswith("_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = "*"
    return env


def _base_config(port: int, data_dir: Path) -> dict[str, Any]:
    """Config shared by every variant: quiet, local, deletable, no extras.

    No ``redis``, ``notifications``, ``proxy``, ``reporting`` or
    ``http.debug`` sections, so nothing listens or dials out besides the
    API port itself.
    """
    return {
        "version": "0.1",
        "log": {
            "level": "info",
            "formatter": "text",
            "accesslog": {"disabled": False},
            "fields": {"service": "registry"},
        },
        "storage": {
            "filesystem": {"rootdirectory": str(data_dir)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": f"127.0.0.1:{port}",
            "secret": secrets.token_hex(16),
            "draintimeout": "1s",
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "health": {"storagedriver": {"enabled": False}},
    }


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop exactly the process we started: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def _wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    verify: str | bool,
    log_file: Path,
    cert: tuple[str, str] | None = None,
) -> None:
    """Poll ``GET /v2/`` until it answers 200 or 401 (auth variants)."""
    deadline = time.monotonic() + READY_TIMEOUT
    session = requests.Session()
    session.trust_env = False  # never route loopback polls via a proxy
    last_error = "no attempt made"
    with session:
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                raise RegistryStartError(
                    f"docker-registry exited with {code} during start-up; log tail:\n"
                    + _log_tail(log_file)
                )
            try:
                response = session.get(f"{url}/v2/", timeout=1.0, verify=verify, cert=cert)
            except requests.RequestException as exc:
                last_error = repr(exc)
            else:
                if response.status_code in (200, 401):
                    return
                last_error = f"HTTP {response.status_code}"
            time.sleep(0.05)
    raise RegistryStartError(
        f"docker-registry not ready at {url} after {READY_TIMEOUT:.0f}s "
        f"(last: {last_error}); log tail:\n" + _log_tail(log_file)
    )


def _write_htpasswd(path: Path, username: str, password: str) -> None:
    """distribution 2.8 only accepts bcrypt entries in its htpasswd file."""
    digest = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=5))
    path.write_text(f"{username}:{digest.decode('ascii')}\n")


@contextlib.contextmanager
def _launch(
    root: Path,
    config: dict[str, Any],
    scheme: str,
    ca_file: Path | None,
    *,
    cert: tuple[str, str] | None = None,
) -> Iterator[tuple[str, Path, int]]:
    """Run the binary with ``config``; yields (url, log file, pid) while alive.

    ``cert`` is the client certificate the readiness probe presents (mTLS).
    """
    config_file = root / "config.yml"
    # YAML is a superset of JSON, which spares a PyYAML dependency.
    config_file.write_text(json.dumps(config, indent=2))
    log_file = root / "registry.log"
    url = f"{scheme}://{config['http']['addr']}"
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            [str(REGISTRY_BINARY), "serve", str(config_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            cwd=root,
        )
    try:
        _wait_ready(proc, url, str(ca_file) if ca_file else True, log_file, cert)
        yield url, log_file, proc.pid
    finally:
        _stop_process(proc)


@contextlib.contextmanager
def start_registry(variant: Variant, *, attempts: int = 3) -> Iterator[RunningRegistry]:
    """Run one registry of ``variant`` for the duration of the ``with`` block.

    Everything (process, token server, temp dir) is torn down on exit,
    even when start-up fails half-way.
    """
    if not REGISTRY_BINARY.exists():
        raise RegistryStartError(f"{REGISTRY_BINARY} is missing; install it with: {INSTALL_HINT}")
    for attempt in range(1, attempts + 1):
        stack = contextlib.ExitStack()
        try:
            running = _start_once(variant, stack)
        except BaseException as exc:
            stack.close()
            # Only a lost race for the port is worth retrying.
            lost_race = isinstance(exc, RegistryStartError) and "address already in use" in str(exc)
            if attempt == attempts or not lost_race:
                raise
            continue
        with stack:
            yield running
        return


def _start_once(variant: Variant, stack: contextlib.ExitStack) -> RunningRegistry:
    root = Path(tempfile.mkdtemp(prefix=f"ocistore-registry-{variant}-"))
    stack.callback(shutil.rmtree, root, ignore_errors=True)
    data_dir = root / "data"
    data_dir.mkdir()
    port = _free_port()
    config = _base_config(port, data_dir)
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    token_server: TokenServer | None = None
    client_tls: pki.ClientTLS | None = None
    scheme = "http"

    if variant == "basic":
        username, password = USERNAME, secrets.token_urlsafe(12)
        htpasswd = root / "htpasswd"
        _write_htpasswd(htpasswd, username, password)
        config["auth"] = {"htpasswd": {"realm": "ocistore-test", "path": str(htpasswd)}}
    elif variant == "token":
        username, password = USERNAME, secrets.token_urlsafe(12)
        token_server = TokenServer(users={username: password})
        token_server.start()
        stack.callback(token_server.stop)
        bundle = token_server.write_root_cert_bundle(root / "token-signer.pem")
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": token_server.service,
                "issuer": token_server.issuer,
                "rootcertbundle": str(bundle),
            }
        }
    elif variant in ("tls", "mtls"):
        tls = pki.write_server_tls(root / "tls")
        ca_file = tls.ca_file
        scheme = "https"
        config["http"]["tls"] = {"certificate": str(tls.cert_file), "key": str(tls.key_file)}
        if variant == "mtls":
            # distribution then sets tls.RequireAndVerifyClientCert: no certificate from
            # this CA, no connection (not even GET /v2/).
            client_tls = pki.write_client_tls(root / "client")
            config["http"]["tls"]["clientcas"] = [str(client_tls.ca_file)]
    elif variant != "anon":
        raise ValueError(f"unknown registry variant {variant!r}")

    cert = None
    if client_tls is not None:
        cert = (str(client_tls.cert_file), str(client_tls.key_file))
    url, log_file, pid = stack.enter_context(_launch(root, config, scheme, ca_file, cert=cert))
    return RunningRegistry(
        variant=variant,
        host=f"127.0.0.1:{port}",
        url=url,
        data_dir=data_dir,
        log_file=log_file,
        pid=pid,
        username=username,
        password=password,
        ca_file=ca_file,
        token_server=token_server,
        client_tls=client_tls,
    )
