"""A small in-memory registry on 127.0.0.1 for what the real one cannot be made to do.

:class:`FakeRegistry` implements enough of the distribution API (blobs, upload sessions,
manifests, tags, catalog, optionally the referrers API) for the ``reg`` scheme to work against
it, and lets a test bend any answer: :meth:`FakeRegistry.inject` puts a responder in front of
the normal handling for requests that match a method and a path pattern. Every request is
recorded (method, path with query, headers, body size) for assertions on what the client sent.

It can serve plain HTTP or HTTPS (with a certificate from ``tests.support.pki``).
:class:`HangUpServer` fails connections below HTTP (resets, silence) for the transport's error
reporting, and :class:`StandInAuth` is a scripted authenticator for transport tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import requests

from ocistore.ref import Ref
from ocistore.settings import HostConfig, Settings
from ocistore_reg.plugin import parse
from ocistore_reg.scheme import Reg

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Reply:
    """What a responder answers. ``body_sent`` < len(body) cuts the connection early."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    body_sent: int | None = None
    content_length: int | None = None
    chunked: bool = False  # no Content-Length: the body comes in chunked transfer encoding
    drop: bool = False  # hang up without answering
    #: A body made while it is sent (endless, or trickled with sleeps between the pieces);
    #: ``body`` is then ignored, and ``content_length`` (if any) is what the header claims.
    stream: Callable[[], Iterator[bytes]] | None = None
    delay: float = 0.0  # seconds of silence before the status line


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


Responder = Callable[["Seen"], Reply | None]


def error(status: int, code: str, message: str = "") -> Reply:
    body = json.dumps({"errors": [{"code": code, "message": message or code.lower()}]}).encode()
    return Reply(status, body, {"Content-Type": "application/json"})


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    responder: Responder
    times: int | None


class FakeRegistry:
    """Distribution-API state plus fault injection; start with ``with FakeRegistry() as f``."""

    def __init__(self, *, tls_dir: Path | None = None, host: str = "127.0.0.1") -> None:
        self.blobs: dict[str, bytes] = {}
        self.repo_blobs: dict[str, set[str]] = {}
        self.manifests: dict[str, dict[str, tuple[str, bytes]]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.uploads: dict[str, tuple[str, bytearray]] = {}
        self.requests: list[Seen] = []
        self.referrers_api = False
        self.filters_applied = True
        self.referrers_page_size: int | None = None
        self.tag_page_size: int | None = None
        self.tags_sorted = True
        self.catalog_page_size = 100
        self.relative_locations = True
        self.chunk_min_length: int | None = None
        self.send_subject_header = True
        self.mount_without_from = False
        self.delete_enabled = True
        self.tag_delete_supported = False
        #: Bytes of ``Reply.stream`` bodies written before the client stopped reading.
        self.streamed = 0
        self._injections: list[_Injection] = []
        self._lock = threading.RLock()
        self._tls_dir = tls_dir
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.ca_file: Path | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> FakeRegistry:
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        if self._tls_dir is not None:
            from tests.support import pki

            tls = pki.write_server_tls(self._tls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert_file, tls.key_file)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.ca_file = tls.ca_file
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{self._host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self._tls_dir else 'http'}://{self.host}"

    # -- test controls ------------------------------------------------------------------------
    def inject(
        self, method: str, pattern: str, responder: Responder | Reply, *, times: int | None = 1
    ) -> None:
        """Answer matching requests with ``responder`` (a Reply, or a function returning one
        or None to fall through), ``times`` times (None: always)."""
        fn: Responder = (lambda _seen: responder) if isinstance(responder, Reply) else responder
        with self._lock:
            self._injections.append(_Injection(method, re.compile(pattern), fn, times))

    def seen(self, method: str | None = None, pattern: str = "") -> list[Seen]:
        rx = re.compile(pattern)
        with self._lock:
            return [
                s
                for s in self.requests
                if (method is None or s.method == method) and rx.search(s.path)
            ]

    def add_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        with self._lock:
            self.blobs[digest] = data
            self.repo_blobs.setdefault(repo, set()).add(digest)
        return digest

    def add_manifest(self, repo: str, raw: bytes, media_type: str, tag: str | None = None) -> str:
        digest = sha256(raw)
        with self._lock:
            self.manifests.setdefault(repo, {})[digest] = (media_type, raw)
            if tag:
                self.tags.setdefault(repo, {})[tag] = digest
        return digest

    # -- dispatch -----------------------------------------------------------------------------
    def handle(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            for inj in list(self._injections):
                if inj.method == seen.method and inj.pattern.search(seen.path):
                    reply = inj.responder(seen)
                    if reply is None:
                        continue
                    if inj.times is not None:
                        inj.times -= 1
                        if inj.times <= 0:
                            self._injections.remove(inj)
                    return reply
        with self._lock:
            return self._route(seen)

    def _route(self, s: Seen) -> Reply:
        path = urlsplit(s.path).path
        if path == "/v2/":
            return Reply(200, b"{}", {"Content-Type": "application/json"})
        if path == "/v2/_catalog":
            return self._catalog(s)
        m = re.match(
            r"^/v2/(.+?)/(blobs/uploads/?|blobs|manifests|tags/list|referrers)(/.*)?$", path
        )
        if not m:
            return error(404, "NOT_FOUND", "no route")
        repo, kind, rest = m.group(1), m.group(2), (m.group(3) or "").lstrip("/")
        if kind.startswith("blobs/uploads"):
            return self._uploads(s, repo, rest)
        if kind == "blobs":
            return self._blob(s, repo, rest)
        if kind == "manifests":
            return self._manifest(s, repo, rest)
        if kind == "tags/list":
            return self._tag_list(s, repo)
        return self._referrers(s, repo, rest)

    def _loc(self, path: str) -> str:
        return path if self.relative_locations else f"{self.url}{path}"

    # -- blobs --------------------------------------------------------------------------------
    def _blob(self, s: Seen, repo: str, digest: str) -> Reply:
        data = self.blobs.get(digest) if digest in self.repo_blobs.get(repo, set()) else None
        if s.method == "DELETE":
            if not self.delete_enabled:
                return error(405, "UNSUPPORTED")
            if data is None:
                return error(404, "BLOB_UNKNOWN")
            self.repo_blobs[repo].discard(digest)
            return Reply(202)
        if data is None:
            return error(404, "BLOB_UNKNOWN")
        headers = {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream"}
        rng = s.headers.get("Range", "")
        m = re.match(r"^bytes=(\d+)-$", rng)
        if m and s.method == "GET":
            start = int(m.group(1))
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return Reply(206, data[start:], headers)
        if s.method == "HEAD":
            return Reply(200, b"", headers, content_length=len(data))
        return Reply(200, data, headers)

    def _uploads(self, s: Seen, repo: str, upload_id: str) -> Reply:
        q = s.query
        if s.method == "POST":
            mount = q.get("mount", [""])[0]
            source = q.get("from", [None])[0]
            if mount and mount in self.blobs:
                src_ok = source is not None and mount in self.repo_blobs.get(source, set())
                if src_ok or (source is None and self.mount_without_from):
                    self.repo_blobs.setdefault(repo, set()).add(mount)
                    return Reply(201, headers={"Location": self._loc(f"/v2/{repo}/blobs/{mount}")})
            uid = uuid.uuid4().hex
            self.uploads[uid] = (repo, bytearray())
            headers = {
                "Location": self._loc(f"/v2/{repo}/blobs/uploads/{uid}?_state=s0"),
                "Range": "0-0",
            }
            if self.chunk_min_length:
                headers["OCI-Chunk-Min-Length"] = str(self.chunk_min_length)
            return Reply(202, headers=headers)
        session = self.uploads.get(upload_id)
        if session is None:
            return error(404, "BLOB_UPLOAD_UNKNOWN")
        buf = session[1]
        state = f"/v2/{repo}/blobs/uploads/{upload_id}?_state=s{len(buf)}"
        if s.method == "DELETE":
            del self.uploads[upload_id]
            return Reply(204)
        if s.method == "GET":
            return Reply(
                204, headers={"Location": self._loc(state), "Range": f"0-{max(len(buf) - 1, 0)}"}
            )
        if s.method == "PATCH":
            m = re.match(r"^(\d+)-(\d+)$", s.headers.get("Content-Range", ""))
            if m and int(m.group(1)) != len(buf):
                return error(416, "BLOB_UPLOAD_INVALID", "out of order")
            buf.extend(s.body)
            state = f"/v2/{repo}/blobs/uploads/{upload_id}?_state=s{len(buf)}"
            return Reply(202, headers={"Location": self._loc(state), "Range": f"0-{len(buf) - 1}"})
        if s.method == "PUT":
            digest = q.get("digest", [""])[0]
            buf.extend(s.body)
            if sha256(bytes(buf)) != digest:
                return error(400, "DIGEST_INVALID")
            del self.uploads[upload_id]
            self.blobs[digest] = bytes(buf)
            self.repo_blobs.setdefault(repo, set()).add(digest)
            return Reply(
                201,
                headers={
                    "Location": self._loc(f"/v2/{repo}/blobs/{digest}"),
                    "Docker-Content-Digest": digest,
                },
            )
        return error(405, "UNSUPPORTED")

    # -- manifests ----------------------------------------------------------------------------
    def _manifest(self, s: Seen, repo: str, reference: str) -> Reply:
        store = self.manifests.setdefault(repo, {})
        tags = self.tags.setdefault(repo, {})
        if s.method == "PUT":
            media_type = s.headers.get("Content-Type", "")
            digest = sha256(s.body)
            if reference.startswith("sha256:") and reference != digest:
                return error(400, "DIGEST_INVALID")
            store[digest] = (media_type, s.body)
            if not reference.startswith("sha256:"):
                tags[reference] = digest
            headers = {
                "Docker-Content-Digest": digest,
                "Location": self._loc(f"/v2/{repo}/manifests/{digest}"),
            }
            try:
                subject = json.loads(s.body).get("subject")
            except ValueError:
                subject = None
            if subject and self.referrers_api and self.send_subject_header:
                headers["OCI-Subject"] = subject["digest"]
            return Reply(201, headers=headers)
        target = reference if reference.startswith("sha256:") else tags.get(reference)
        if s.method == "DELETE":
            if not self.delete_enabled:
                return error(405, "UNSUPPORTED")
            if not reference.startswith("sha256:"):
                if not self.tag_delete_supported:
                    return error(400, "DIGEST_INVALID")
                if reference not in tags:
                    return error(404, "MANIFEST_UNKNOWN")
                del tags[reference]
                return Reply(202)
            if target not in store:
                return error(404, "MANIFEST_UNKNOWN")
            del store[target]
            for tag in [t for t, d in tags.items() if d == target]:
                del tags[tag]
            return Reply(202)
        if target is None or target not in store:
            return error(404, "MANIFEST_UNKNOWN")
        media_type, raw = store[target]
        headers = {"Content-Type": media_type, "Docker-Content-Digest": target}
        if s.method == "HEAD":
            return Reply(200, b"", headers, content_length=len(raw))
        return Reply(200, raw, headers)

    # -- listings -----------------------------------------------------------------------------
    def _paged(
        self,
        s: Seen,
        base: str,
        key: str,
        names: list[str],
        page: int | None,
        extra: dict[str, Any],
    ) -> Reply:
        q = s.query
        last = q.get("last", [""])[0]
        if last:
            names = [n for n in names if n > last]
        size = page
        if "n" in q:
            size = min(int(q["n"][0]), page) if page else int(q["n"][0])
        headers = {"Content-Type": "application/json"}
        if size is not None and len(names) > size:
            names = names[:size]
            headers["Link"] = f'<{base}?last={names[-1]}&n={size}>; rel="next"'
        return Reply(200, json.dumps({**extra, key: names}).encode(), headers)

    def _tag_list(self, s: Seen, repo: str) -> Reply:
        if repo not in self.tags and repo not in self.manifests:
            return error(404, "NAME_UNKNOWN")
        names = list(self.tags.get(repo, {}))
        names = sorted(names) if self.tags_sorted else sorted(names, reverse=True)
        return self._paged(
            s, f"/v2/{repo}/tags/list", "tags", names, self.tag_page_size, {"name": repo}
        )

    def _catalog(self, s: Seen) -> Reply:
        names = sorted(set(self.manifests) | set(self.repo_blobs))
        return self._paged(s, "/v2/_catalog", "repositories", names, self.catalog_page_size, {})

    def _referrers(self, s: Seen, repo: str, digest: str) -> Reply:
        if not self.referrers_api:
            return Reply(404, b"404 page not found\n", {"Content-Type": "text/plain"})
        wanted = s.query.get("artifactType", [None])[0]
        entries = []
        for d, (media_type, raw) in sorted(self.manifests.get(repo, {}).items()):
            doc = json.loads(raw)
            if (doc.get("subject") or {}).get("digest") != digest:
                continue
            art = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType", "")
            if wanted and self.filters_applied and art != wanted:
                continue
            entry = {"mediaType": media_type, "digest": d, "size": len(raw), "artifactType": art}
            if doc.get("annotations"):
                entry["annotations"] = doc["annotations"]
            entries.append(entry)
        headers = {"Content-Type": OCI_INDEX}
        if wanted and self.filters_applied:
            headers["OCI-Filters-Applied"] = "artifactType"
        start = int(s.query.get("page", ["0"])[0])
        page = self.referrers_page_size
        if page is not None:
            if start + page < len(entries):
                headers["Link"] = f'<?page={start + page}>; rel="next"'
            entries = entries[start : start + page]
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return Reply(200, json.dumps(body).encode(), headers)


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up (TLS failures, cut downloads) are expected here, not news."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def _handler_for(fake: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
            reply = fake.handle(seen)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                return
            if reply.stream is not None:
                self._stream(reply)
                return
            self.send_response(reply.status)
            sent = reply.body if reply.body_sent is None else reply.body[: reply.body_sent]
            length_header = (
                reply.content_length if reply.content_length is not None else len(reply.body)
            )
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif "Content-Length" not in reply.headers:
                self.send_header("Content-Length", str(length_header))
            if reply.body_sent is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if reply.chunked and self.command != "HEAD":
                for part in iter_chunks(sent, 1000):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                if reply.body_sent is None:  # a cut body ends without the last chunk
                    self.wfile.write(b"0\r\n\r\n")
            elif self.command != "HEAD":
                self.wfile.write(sent)
            self.wfile.flush()

        def _stream(self, reply: Reply) -> None:
            assert reply.stream is not None
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            chunked = reply.content_length is None
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(reply.content_length))
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            self.wfile.flush()
            try:
                for part in reply.stream():
                    framed = b"%x\r\n%s\r\n" % (len(part), part) if chunked else part
                    self.wfile.write(framed)
                    self.wfile.flush()
                    with fake._lock:
                        fake.streamed += len(part)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client stopped reading: what we want to see

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


HangUpMode = Literal["reset-body", "no-answer", "silent", "reset-handshake"]


class HangUpServer:
    """A socket server on 127.0.0.1 that fails every connection in one way (``mode``):

    * ``reset-body``: read the request head and some of its body (if any), then reset (RST);
    * ``no-answer``: read the whole request, then close without answering;
    * ``silent``: read the request and never answer (until the server stops);
    * ``reset-handshake``: reset while the client's TLS handshake is under way.

    With ``tls_dir`` it speaks TLS (certificate from ``tests.support.pki``, CA in ``ca_file``).
    """

    def __init__(self, mode: HangUpMode, *, tls_dir: Path | None = None) -> None:
        self.mode = mode
        self.connections = 0
        self.ca_file: Path | None = None
        self._context: ssl.SSLContext | None = None
        if tls_dir is not None:
            from tests.support import pki

            tls = pki.write_server_tls(tls_dir)
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(tls.cert_file, tls.key_file)
            self.ca_file = tls.ca_file
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"{'https' if self._context else 'http'}://{self.host}"

    def __enter__(self) -> HangUpServer:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            self._spawn(self._serve, sock)

    def _serve(self, raw: socket.socket) -> None:
        sock = raw
        try:
            if self.mode == "reset-handshake":
                raw.recv(16)  # the start of the ClientHello
                _reset(raw)
                return
            if self._context is not None:
                sock = self._context.wrap_socket(raw, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head:
                data = sock.recv(65536)
                if not data:
                    return
                head += data
            match = re.search(rb"(?i)content-length:\s*(\d+)", head)
            left = int(match.group(1)) if match else 0
            left -= len(head.split(b"\r\n\r\n", 1)[1])
            if self.mode == "reset-body":
                if left > 0:
                    sock.recv(65536)
                _reset(sock)
                return
            while left > 0 and (data := sock.recv(min(left, 65536))):
                left -= len(data)
            if self.mode == "silent":
                self._stop.wait(30)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a crashing peer or a broken middlebox would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class StandInAuth:
    """A scripted authenticator: fixed pre-emptive headers, recorded challenges."""

    def __init__(self, header: str | None = None, answers: Sequence[bool] = ()) -> None:
        self.header = header
        self.answers = list(answers)
        self.challenges: list[tuple[int, tuple[str, ...]]] = []
        self.asked: list[tuple[str, ...]] = []

    def headers_for(self, scopes: Sequence[str]) -> dict[str, str]:
        self.asked.append(tuple(scopes))
        return {"Authorization": self.header} if self.header else {}

    def handle_challenge(self, response: requests.Response, scopes: Sequence[str]) -> bool:
        self.challenges.append((response.status_code, tuple(scopes)))
        return self.answers.pop(0) if self.answers else False


def stand_in_factory(
    auth: StandInAuth,
) -> Callable[[str, requests.Session, HostConfig, Settings], StandInAuth]:
    def factory(
        hostname: str, session: requests.Session, config: HostConfig, settings: Settings
    ) -> StandInAuth:
        return auth

    return factory


def iter_chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


class Harness:
    """A Reg pointed at one fake registry, recording the backoff delays it would have slept."""

    def __init__(self, fake: FakeRegistry, auth: StandInAuth, **host: Any) -> None:
        self.fake = fake
        self.auth = auth
        options = host.pop("options", {})
        config = HostConfig(fake.host, tls=host.pop("tls", "disabled"), **host)
        settings = Settings(options={"reg": options}).with_host(config)
        self.reg = Reg(settings, auth_factory=stand_in_factory(auth))
        self.sleeps: list[float] = []
        self.reg.transport(self.ref("x")).sleep = self.sleeps.append

    def ref(self, text: str) -> Ref:
        return parse(f"{self.fake.host}/{text}")


#: The ``make_harness`` fixture: ``make_harness(auth=..., registry=..., **host_config)``.
MakeHarness = Callable[..., Harness]
