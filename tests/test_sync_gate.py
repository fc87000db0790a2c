"""Per-host request limits and host-wide 429 pauses in the reg transport.

A real registry neither counts its concurrent requests nor answers 429 on demand, so these run
against a small threaded HTTP server on 127.0.0.1 that does both (fault injection).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ocistore.settings import HostConfig, Settings
from ocistore_reg.gate import HostGate
from ocistore_reg.http import Transport
from ocistore_reg.options import RegOptions


class _NoAuth:
    def headers_for(self, scopes: Sequence[str]) -> dict[str, str]:
        return {}

    def handle_challenge(self, response: requests.Response, scopes: Sequence[str]) -> bool:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.delay = 0.0
        self.throttle_first: float | None = None  # answer the first request 429 + Retry-After
        self.arrivals: list[tuple[float, str]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        s = self.server
        with s.lock:
            s.active += 1
            s.peak = max(s.peak, s.active)
            first = not s.arrivals
            s.arrivals.append((time.monotonic(), self.path))
        try:
            time.sleep(s.delay)
        finally:
            # Leave the count before answering: once the answer is out, the client may send its
            # next request before this thread runs again, and would be counted twice.
            with s.lock:
                s.active -= 1
        if first and s.throttle_first is not None:
            self.send_response(429)
            self.send_header("Retry-After", str(int(s.throttle_first)))
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _transport(srv: _Server, limit: int | None) -> Transport:
    host = f"127.0.0.1:{srv.server_address[1]}"
    config = HostConfig(host, tls="disabled", max_requests=limit, concurrency=32)
    return Transport(host, config, Settings(), RegOptions(), lambda *a: _NoAuth())


def _hit(transport: Transport, n: int, *, stagger: float = 0.0) -> list[int]:
    statuses: list[int] = []

    def one(i: int) -> None:
        time.sleep(stagger * i)
        response = transport.request("GET", transport.url(f"/v2/r{i}"), what="probe")
        statuses.append(response.status_code)
        response.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return statuses


def test_request_limit_bounds_what_the_host_sees(server: _Server) -> None:
    server.delay = 0.15
    transport = _transport(server, 3)
    assert _hit(transport, 12) == [200] * 12
    assert server.peak == 3
    assert transport.gate.peak == 3


def test_without_a_limit_the_same_load_goes_wider(server: _Server) -> None:
    # the control for the test above: the bound comes from the gate, not from elsewhere
    server.delay = 0.15
    assert _hit(_transport(server, None), 12) == [200] * 12
    assert server.peak > 3


def test_a_429_pauses_every_request_to_the_host(server: _Server) -> None:
    server.throttle_first = 1
    transport = _transport(server, None)
    started = time.monotonic()
    assert _hit(transport, 4, stagger=0.2) == [200] * 4
    throttled_at = server.arrivals[0][0]
    later = [when for when, _ in server.arrivals[1:]]
    # the three other requests started 0.2-0.6 s in, but none reached the host before the
    # Retry-After second had passed (each would have gone straight through on its own)
    assert min(later) - throttled_at >= 0.95
    assert time.monotonic() - started < 5


def test_gate_is_reentrant_per_thread_and_pauses_only_grow() -> None:
    now = [100.0]
    gate = HostGate(1, clock=lambda: now[0])
    with gate.slot(), gate.slot():  # a nested request on the same thread does not deadlock
        assert gate.peak == 1
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    gate.pause(2)
    gate.wait(sleep)  # the thread that got the 429 waits in its own retry loop, not here
    assert slept == [] and gate.remaining() == 2

    def other() -> None:  # another thread's 429
        gate.pause(5)
        gate.pause(1)  # a shorter pause does not cut the longer one

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert gate.remaining() == 5
    gate.wait(sleep)
    assert slept == [5] and gate.remaining() == 0
    # a clock that does not move cannot make it spin: each pause is waited once
    gate.pause(0)
    frozen = HostGate(None, clock=lambda: 0.0)
    thread = threading.Thread(target=frozen.pause, args=(3,))
    thread.start()
    thread.join()
    frozen.wait(slept.append)
    assert slept == [5, 3]
