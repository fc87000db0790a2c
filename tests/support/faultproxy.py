"""A fault-injecting HTTP/1.1 relay in front of a real registry (127.0.0.1 only).

Tests that want to see how a copy survives a flaky network put :class:`FaultProxy` between the
client and the session's real docker-registry. Everything passes through unchanged, ``Host``
header included, so the registry's ``Location`` answers point back at the relay. Faults come
from two places:

* **rules** (:meth:`FaultProxy.rule`): a script, "do this to the next N requests matching
  METHOD and a pattern", for tests that pin one behaviour;
* **chaos** (:class:`Chaos`): a seeded random choice per request, at a given rate and never
  more than ``max_in_row`` faults in a row, for the long fault run. Its counters say which
  faults were actually injected, by kind.

The fault kinds (:data:`KINDS`):

``status``  answer 500, 502 or 503 (``status`` rules: any status) instead of forwarding;
``429``     answer 429 with ``Retry-After: 1``;
``reset``   read half the request body, then reset the connection (RST, nothing forwarded);
``drop``    forward the request, then reset the connection instead of answering (the registry
            acted, the client never hears how: the hard case for non-idempotent requests);
``cut``     forward, then send the head and half the body and close;
``slow``    wait 0.2-0.6 s before answering;
``flip``    flip one byte: of a GET answer's body, or of a blob upload's request body;
``norange`` (rules only) hide ``Range``, so a resumed download gets the whole blob back.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["KINDS", "Action", "Chaos", "FaultProxy", "Rule"]

Action = Literal["status", "429", "reset", "drop", "cut", "slow", "flip", "norange"]
#: What :class:`Chaos` picks from.
KINDS: tuple[Action, ...] = ("status", "429", "reset", "drop", "cut", "slow", "flip")
# Hop-by-hop headers, and the length, which the relay sets itself.
_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade"}
)
_UPLOAD = re.compile(r"/blobs/uploads/")


@dataclass
class Rule:
    """Do ``action`` to the next ``times`` requests (``-1``: all) matching method and pattern."""

    method: str
    pattern: str
    action: Action
    status: int = 503
    times: int = 1
    hits: int = 0

    def takes(self, method: str, target: str) -> bool:
        live = self.times < 0 or self.hits < self.times
        return live and method == self.method and re.search(self.pattern, target) is not None


@dataclass
class Chaos:
    """Seeded random faults: each request gets one with probability ``rate``.

    ``injected`` counts the faults that took effect, by kind (a ``flip`` on an empty body or a
    ``cut`` of a body-less answer is not counted: nothing was damaged). After ``max_in_row``
    faults in a row the next request passes untouched.
    """

    seed: int | str
    rate: float = 0.2
    max_in_row: int = 3
    kinds: tuple[Action, ...] = KINDS
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    _rng: random.Random = field(init=False)
    _in_row: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(str(self.seed))

    def pick(self) -> tuple[Action | None, random.Random]:
        """A fault for the next request (or None), and a generator for its details."""
        with self._lock:
            self.requests += 1
            detail = random.Random(self._rng.random())
            if self._in_row >= self.max_in_row or self._rng.random() >= self.rate:
                self._in_row = 0
                return None, detail
            self._in_row += 1
            return self._rng.choice(self.kinds), detail

    def count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1


class FaultProxy:
    """A thread-per-connection HTTP/1.1 relay to ``upstream`` (``127.0.0.1:PORT``)."""

    def __init__(self, upstream: str, *, chaos: Chaos | None = None) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        self.rules: list[Rule] = []
        self.chaos = chaos
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> FaultProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._server.close()
        with self._lock:
            for sock in self._clients:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)

    def rule(self, method: str, pattern: str, action: Action, **kw: Any) -> Rule:
        rule = Rule(method, pattern, action, **kw)
        with self._lock:
            self.rules.append(rule)
        return rule

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        with self._lock:
            self._clients.add(sock)
        rfile = sock.makefile("rb")
        try:
            while self._exchange(sock, rfile):
                pass
        except OSError:
            pass
        finally:
            rfile.close()
            sock.close()
            with self._lock:
                self._clients.discard(sock)

    def _decide(self, method: str, target: str) -> tuple[Action | None, int, random.Random]:
        with self._lock:
            for rule in self.rules:
                if rule.takes(method, target):
                    rule.hits += 1
                    return rule.action, rule.status, random.Random(rule.hits)
        if self.chaos is None:
            return None, 0, random.Random(0)
        action, rng = self.chaos.pick()
        return action, rng.choice((500, 502, 503)), rng

    def _count(self, action: str) -> None:
        if self.chaos is not None:
            self.chaos.count(action)

    def _exchange(self, sock: socket.socket, rfile: Any) -> bool:
        """Relay one request; False when the connection is to end."""
        line = rfile.readline(65537)
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while (raw := rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = raw.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        lookup = {k.lower(): v for k, v in headers}
        action, status, rng = self._decide(method, target)
        if action == "reset":
            self._count(action)
            rfile.read(int(lookup.get("content-length") or 0) // 2)
            _reset(sock)
            return False
        body = _read_body(rfile, lookup)
        if action in ("status", "429"):
            self._count(action)
            sock.sendall(_injected_answer(status if action == "status" else 429))
            return True
        if action == "norange":
            headers = [(k, v) for k, v in headers if k.lower() != "range"]
        if action == "flip" and body and method in ("PUT", "PATCH") and _UPLOAD.search(target):
            self._count(action)
            body = _flip(body, rng)
            action = None
        if action == "slow":
            self._count(action)
            time.sleep(rng.uniform(0.2, 0.6))
        status, reason, answer, data = self._forward(method, target, headers, body)
        if action == "drop":
            self._count(action)
            _reset(sock)
            return False
        if action == "flip" and data and method == "GET":
            self._count(action)
            data = _flip(data, rng)
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in answer if k.lower() not in _HOP]
        length = dict((k.lower(), v) for k, v in answer).get("content-length")
        if method == "HEAD" and length is not None:
            lines.append(f"Content-Length: {length}")
        elif method != "HEAD" and status not in (204, 304):
            lines.append(f"Content-Length: {len(data)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if action == "cut" and method != "HEAD":
            if data:
                self._count(action)
            sock.sendall(head + data[: len(data) // 2])
            return False
        sock.sendall(head + (b"" if method == "HEAD" else data))
        return lookup.get("connection", "").lower() != "close"

    def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP:
                    conn.putheader(name, value)
            if body or method in ("PUT", "POST", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            conn.close()


def _reset(sock: socket.socket) -> None:
    """Linger 0: the coming close() sends RST, as a crashing peer or a broken middlebox would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _flip(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]


def _injected_answer(status: int) -> bytes:
    if status == 429:
        code, extra = "TOOMANYREQUESTS", "Retry-After: 1\r\n"
    else:
        code, extra = "UNAVAILABLE", ""
    text = f'{{"errors":[{{"code":"{code}","message":"injected by the test"}}]}}'.encode()
    head = (
        f"HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(text)}\r\n\r\n"
    )
    return head.encode() + text


def _read_body(rfile: Any, headers: dict[str, str]) -> bytes:
    if "chunked" not in headers.get("transfer-encoding", "").lower():
        return bytes(rfile.read(int(headers.get("content-length") or 0)))
    parts = []
    while size := int(rfile.readline().split(b";")[0], 16):
        parts.append(rfile.read(size))
        rfile.readline()
    while rfile.readline() not in (b"\r\n", b"\n", b""):
        pass  # trailers
    return b"".join(parts)
