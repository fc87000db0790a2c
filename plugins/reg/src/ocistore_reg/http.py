"""The HTTP transport: one pooled ``requests.Session`` per registry host.

A :class:`Transport` turns "send this request with these token scopes" into an answer the
protocol code can judge, and takes care of everything that is the same for every endpoint:

* URLs: ``https://host/v2/...``, ``http`` only when the host's TLS mode is ``disabled``
  (``Settings.host`` makes that the default for loopback hosts); Docker Hub's API host;
* TLS: system trust (``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` honoured), a per-host CA file,
  a client certificate, or no verification (``insecure``);
* headers: ``Accept-Encoding: identity`` on every request, because sizes and digests are of the
  bytes on the wire, and the configured ``User-Agent``;
* auth: pre-emptive headers from the host's authenticator, and on 401 one more try for every
  challenge the authenticator calls new;
* retries: connection failures and 408/429/5xx, with jittered exponential backoff bounded in
  attempts and time, ``Retry-After`` honoured (how these multiply with the copy engine's own
  retries, and the ``Settings.options["reg"]`` keys: ``plugins/reg/README.md``);
* the host's gate (:mod:`~ocistore_reg.gate`): at most ``HostConfig.max_requests`` requests in
  flight, and a 429 pauses every request to the host, not just the one that got it;
* failures: reported by phase (:func:`~ocistore_reg.translate.classify`): "cannot connect to
  <host>", a failed TLS handshake, "connection lost during <METHOD> <url>", or a read timeout;
  a TLS failure is never retried, a request that got no connection always may be;
* redirects, followed by hand (at most 10): no ``Authorization`` to any other origin, no
  https→http downgrade, no redirect from a remote host to a local address.

The session ignores the environment's ``.netrc`` (``trust_env`` is off, so no credentials are
attached behind our back); proxies from the environment are still applied per URL.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, Protocol

import requests
from requests.adapters import HTTPAdapter

from ocistore.errors import RegistryError, StorageError
from ocistore.settings import HostConfig, Settings
from ocistore_reg.bodies import read_limited, stamp
from ocistore_reg.gate import HostGate
from ocistore_reg.options import RegOptions
from ocistore_reg.retry import RETRY_STATUSES, Backoff, RetryPolicy, parse_retry_after
from ocistore_reg.translate import Failure, classify, transport_error
from ocistore_reg.urls import api_host, is_local_host, origin, redact, resolve

__all__ = ["Auth", "AuthFactory", "BodySource", "Transport", "read_limited", "tls_options"]

log = logging.getLogger("ocistore_reg")

MAX_REDIRECTS = 10
#: Socket write size for request bodies. urllib3's default of 16 KiB costs 20% more CPU on an
#: upload than 256 KiB; bigger blocks save nothing more but hold a block per transfer in memory
#: (1 MiB: +6 MB peak RSS for a 4-way copy; see benchmarks/README.md).
SEND_BLOCK = 256 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# At most this many 401 challenges per request, even if the authenticator keeps saying "new".
_MAX_CHALLENGES = 3


class Auth(Protocol):
    """What the transport needs from ``ocistore_reg.auth.Authenticator``."""

    def headers_for(self, scopes: Sequence[str]) -> dict[str, str]: ...

    def handle_challenge(self, response: requests.Response, scopes: Sequence[str]) -> bool: ...


#: ``(hostname, session, host config, settings) -> Auth``; tests inject their own.
AuthFactory = Callable[[str, requests.Session, HostConfig, Settings], Auth]


class BodySource(Protocol):
    """A request body that may have to be sent again (retry, redirect, new challenge)."""

    @property
    def replayable(self) -> bool:
        """Whether :meth:`open` can be called (again)."""

    def open(self) -> IO[bytes] | bytes:
        """A fresh body: bytes, or a file-like object with ``__len__`` for Content-Length."""


class _Bytes:
    # not a dataclass: this module is on every registry command's start-up path
    __slots__ = ("data", "replayable")

    def __init__(self, data: bytes, replayable: bool = True) -> None:
        self.data = data
        self.replayable = replayable

    def open(self) -> bytes:
        return self.data


class _Adapter(HTTPAdapter):
    """An adapter that writes request bodies in large blocks."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blocksize", SEND_BLOCK)
        super().init_poolmanager(*args, **kwargs)


def tls_options(config: HostConfig) -> tuple[bool | str, str | tuple[str, str] | None]:
    """``(verify, cert)`` for requests, from the host's TLS settings."""
    return _verify(config), _cert(config)


def _verify(config: HostConfig) -> bool | str:
    if config.tls == "insecure":
        return False
    if config.ca_file:
        return config.ca_file
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _cert(config: HostConfig) -> str | tuple[str, str] | None:
    if config.client_key and not config.client_cert:
        raise StorageError(
            f"client_key for {config.hostname} is set without client_cert",
            hint="give the certificate too (or one PEM file holding both as client_cert)",
        )
    for kind, path in (
        ("client certificate", config.client_cert),
        ("client key", config.client_key),
    ):
        if path and not os.access(path, os.R_OK):
            raise StorageError(
                f"{kind} file {path} for {config.hostname} cannot be read"
                f"{'' if os.path.exists(path) else ': no such file'}"
            )
    if config.client_cert and config.client_key:
        return (config.client_cert, config.client_key)
    return config.client_cert or None


def _idempotent(method: str, source: BodySource | None) -> bool:
    """Safe to send twice: the idempotent methods, and a body-less POST (a new session)."""
    if method in _IDEMPOTENT:
        return True
    return method == "POST" and (source is None or (isinstance(source, _Bytes) and not source.data))


class Transport:
    """Requests to one registry host; safe to share between threads."""

    def __init__(
        self,
        hostname: str,
        config: HostConfig,
        settings: Settings,
        options: RegOptions,
        auth_factory: AuthFactory,
    ) -> None:
        self.hostname = hostname
        self.config = config
        scheme = "http" if config.tls == "disabled" else "https"
        self.base_url = f"{scheme}://{api_host(hostname)}"
        self._origin = origin(self.base_url)
        self.policy = RetryPolicy(
            options.retries, options.retry_delay, options.retry_max_delay, options.retry_total
        )
        self.timeout = (options.connect_timeout, options.read_timeout)
        self.body_timeout = options.body_timeout
        self.low_speed = (options.low_speed_limit, options.low_speed_time)
        self.sleep: Callable[[float], None] = time.sleep
        self._verify = _verify(config)
        self._cert = _cert(config)
        self._settings = settings
        self._auth_factory = auth_factory
        self._auth: Auth | None = None
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.gate = HostGate(config.max_requests)
        size = max(1, config.concurrency or settings.concurrency)
        session = requests.Session()
        session.trust_env = False
        adapter = _Adapter(pool_connections=4, pool_maxsize=size, pool_block=False, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update(
            {"User-Agent": settings.user_agent, "Accept-Encoding": "identity", "Accept": "*/*"}
        )
        self.session = session

    # -- URLs ---------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """The absolute URL of an API path such as ``/v2/<repo>/tags/list``."""
        return self.base_url + path

    def repo_url(self, repository: str, suffix: str) -> str:
        return f"{self.base_url}/v2/{repository}/{suffix}"

    # -- auth ---------------------------------------------------------------------------------
    @property
    def auth(self) -> Auth:
        with self._lock:
            if self._auth is None:
                self._auth = self._auth_factory(
                    self.hostname, self.session, self.config, self._settings
                )
            return self._auth

    # -- requests -----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        scopes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | BodySource | None = None,
        retry: bool = True,
    ) -> requests.Response:
        """Send ``method url`` and return the final answer, streamed (the caller closes it).

        Any status can come back: judging it is the caller's business. Connection failures
        raise :class:`~ocistore.errors.TransportError`. ``retry=False`` makes one attempt
        (probes whose failure is expected, like the anonymous mount). The answer carries the
        ``body_timeout`` for :mod:`ocistore_reg.bodies`.
        """
        response = self._request(
            method, url, what=what, scopes=scopes, headers=headers, body=body, retry=retry
        )
        return stamp(response, self.body_timeout)

    def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None,
        body: bytes | BodySource | None,
        retry: bool,
    ) -> requests.Response:
        source: BodySource | None = _Bytes(body) if isinstance(body, bytes) else body
        backoff = Backoff(self.policy, sleep=self.sleep)
        challenges = 0
        while True:
            backoff.next_attempt()
            self.gate.wait(self.sleep)
            try:
                with self.gate.slot():
                    response = self._send(method, url, scopes, headers, source)
            except requests.RequestException as exc:
                can_resend = source is None or source.replayable
                failure = classify(exc)
                if (
                    retry
                    and can_resend
                    and failure is not Failure.TLS
                    # a request that never got a connection is safe to send whatever it is
                    and (_idempotent(method, source) or failure is Failure.CONNECT)
                    and backoff.wait()
                ):
                    log.debug("%s %s failed (%s), retrying", method, redact(url), exc)
                    continue
                raise transport_error(
                    exc,
                    what,
                    url,
                    self.hostname,
                    method=method,
                    client_cert=bool(self.config.client_cert),
                ) from None
            status = response.status_code
            self._warn(response)
            can_resend = source is None or source.replayable
            if status == 401 and challenges < _MAX_CHALLENGES and can_resend:
                if self._same_origin(response.url) and self._answer(response, scopes):
                    challenges += 1
                    backoff.attempt -= 1  # a new challenge is not a failure
                    response.close()
                    continue
                return response
            delay = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429:  # the whole host is saying it: every request waits
                self.gate.pause(delay if delay is not None else self.policy.delay)
            if status in RETRY_STATUSES and retry and can_resend and backoff.wait(delay):
                log.debug("%s %s -> %d, retrying", method, redact(url), status)
                response.close()
                continue
            return response

    def _answer(self, response: requests.Response, scopes: Sequence[str]) -> bool:
        """Ask the authenticator about a 401; whatever it raises, the connection is released."""
        try:
            return self.auth.handle_challenge(response, scopes)
        except BaseException:
            response.close()
            raise

    def _same_origin(self, url: str) -> bool:
        return origin(url) == self._origin

    def _send(
        self,
        method: str,
        url: str,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None,
        source: BodySource | None,
    ) -> requests.Response:
        """One attempt, following redirects by hand."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            sent: dict[str, str] = dict(headers or {})
            if self._same_origin(current):
                sent.update(self.auth.headers_for(scopes))
            data = source.open() if source is not None else None
            if isinstance(data, bytes) and not data:
                sent.setdefault("Content-Length", "0")
            response = self.session.request(
                method,
                current,
                headers=sent,
                data=data,
                stream=True,
                allow_redirects=False,
                verify=self._verify,
                cert=self._cert,
                timeout=self.timeout,
                proxies=requests.utils.get_environ_proxies(current),
            )
            log.debug("%s %s -> %d", method, redact(current), response.status_code)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or not location:
                return response
            target = resolve(response.url, location)
            response.close()
            self._check_redirect(current, target, response.status_code)
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, source = ("HEAD" if method == "HEAD" else "GET"), None
            elif source is not None and not source.replayable:
                raise RegistryError(
                    f"{method} {redact(url)}: redirected to {redact(target)}, but the request "
                    "body cannot be sent again",
                    status=response.status_code,
                )
            current = target
        raise RegistryError(f"{method} {redact(url)}: more than {MAX_REDIRECTS} redirects")

    def _check_redirect(self, current: str, target: str, status: int) -> None:
        if current.lower().startswith("https:") and not target.lower().startswith("https:"):
            raise RegistryError(
                f"refusing redirect from {redact(current)} to {redact(target)}: "
                "https must not be downgraded",
                status=status,
            )
        if not target.lower().startswith(("http:", "https:")):
            raise RegistryError(f"refusing redirect to {redact(target)}", status=status)
        if is_local_host(target) and not is_local_host(current):
            raise RegistryError(
                f"refusing redirect from {redact(current)} to the local address {redact(target)}",
                status=status,
            )

    def _warn(self, response: requests.Response) -> None:
        """Show each distinct ``Warning: 299`` text once (the spec asks for no other action)."""
        for item in response.headers.get("Warning", "").split(","):
            text = item.strip()
            if text.startswith("299") and text not in self._warned:
                self._warned.add(text)
                log.warning("registry %s: %s", self.hostname, text[3:].strip(" -\"'"))

    def close(self) -> None:
        self.session.close()
