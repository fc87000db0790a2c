"""A blob download that survives dropped connections.

Large blobs cross long-lived connections that proxies and load balancers cut. Instead of starting
over, :class:`ResumingStream` notices the short read (the connection ended before
``Content-Length`` bytes, or a read failed) and asks again for the rest with
``Range: bytes=N-``. A ``206`` answer must carry a ``Content-Range`` that starts exactly at
``N``: anything else could splice foreign bytes into the stream. A registry (or a proxy in
front of it) that ignores ``Range`` answers ``200`` with the whole blob instead; then the first
``N`` bytes of that answer are read and dropped, and the stream carries on from there. Such an
answer must be as long as the blob is known to be (descriptor size or the first answer's
``Content-Length``), so the skip never runs past the expected size. The bytes themselves are
checked by the :class:`~ocistore.blob.BlobReader` wrapped around this stream, so a resumed
download ends with the same digest verification as any other.

Reads take what one receive brings (``read1``), so that a server trickling bytes cannot hold a
read for ever: a download slower than the ``low_speed_limit`` reg option for
``low_speed_time`` seconds is abandoned with a :class:`~ocistore.errors.TransportError`.
"""

from __future__ import annotations

import http.client
import logging
import time

import requests
import urllib3

from ocistore.errors import (
    ShortReadError,
    SizeLimitExceededError,
    TransportError,
    VerificationError,
)
from ocistore_reg.http import Transport
from ocistore_reg.retry import Backoff
from ocistore_reg.translate import raise_for
from ocistore_reg.urls import parse_content_range

__all__ = ["READ_BLOCK", "ResumingStream"]

log = logging.getLogger("ocistore_reg")

#: Bytes received after a resume that earn the download a fresh retry budget.
_PROGRESS = 8 * 1024 * 1024
#: Largest single read from the socket. ``http.client`` allocates a fresh buffer of the size asked
#: for on every read; a 4 MiB ask (the ocidir writer's buffer) costs 12 MB more peak RSS on a 4-way
#: copy than 1 MiB, for no speed (see benchmarks/README.md). Callers handle short reads anyway.
READ_BLOCK = 1024 * 1024

_READ_ERRORS = (
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    http.client.HTTPException,
    OSError,
)


class ResumingStream:
    """``read(n)`` over a streamed GET, resuming with ``Range`` after a short read.

    ``total`` is the full size when known (descriptor or ``Content-Length``); without it a clean
    end of stream is taken as the end of the blob and only failed reads trigger a resume.
    """

    def __init__(
        self,
        transport: Transport,
        url: str,
        response: requests.Response,
        *,
        scopes: tuple[str, ...],
        total: int | None,
        what: str,
    ) -> None:
        self._transport = transport
        self._url = url
        self._response: requests.Response | None = response
        self._scopes = scopes
        self._total = total
        self._what = what
        self._pos = 0
        # Bytes at the start of the current answer already delivered (a resume answered 200).
        self._skip = 0
        self._backoff: Backoff | None = None
        self._resumed_at = 0
        self.resumes = 0
        self._speed_limit, self._speed_time = transport.low_speed
        self._window_start = time.monotonic()
        self._window_bytes = 0

    def read(self, n: int = -1, /) -> bytes:
        if n == 0:
            return b""
        while True:
            if self._response is None:
                return b""
            failure: BaseException | None = None
            if self._skip:
                want: int | None = min(self._skip, READ_BLOCK)
            else:
                want = min(n, READ_BLOCK) if n > 0 else None
            try:
                data = self._response.raw.read1(want, decode_content=False)
            except _READ_ERRORS as exc:
                data, failure = b"", exc
            if data and self._speed_time > 0:
                self._check_speed(len(data))
            if data and self._skip:
                self._skip -= len(data)
                continue
            if data:
                self._pos += len(data)
                return data
            ended = failure is None
            if ended and not self._skip and (self._total is None or self._pos >= self._total):
                return b""
            if ended and self._skip and self._total is None:
                self.close()
                raise ShortReadError(
                    f"{self._what}: the registry ignored the Range request, and its full "
                    f"answer ended before byte {self._pos}, where the download had got to"
                )
            self._resume(failure)

    def _check_speed(self, received: int) -> None:
        """Give up on a download slower than the low-speed limit for the low-speed time."""
        self._window_bytes += received
        elapsed = time.monotonic() - self._window_start
        if elapsed < self._speed_time:
            return
        if self._window_bytes < self._speed_limit * elapsed:
            self.close()
            raise TransportError(
                f"{self._what}: the download is too slow: {self._window_bytes} bytes in "
                f"{elapsed:.1f} s, under the low_speed_limit of {self._speed_limit:g} bytes/s "
                f"(reg options low_speed_limit / low_speed_time)"
            )
        self._window_start, self._window_bytes = time.monotonic(), 0

    def _resume(self, failure: BaseException | None) -> None:
        """Re-request from the current offset, or raise if that is not possible."""
        assert self._response is not None
        self._response.close()
        self._response = None
        reason = f"{failure}" if failure is not None else "connection closed early"
        if self._pos - self._resumed_at >= _PROGRESS:
            self._backoff = None  # good progress since the last break: a fresh retry budget
        self._resumed_at = self._pos
        self._skip = 0
        if self._backoff is None:
            self._backoff = Backoff(self._transport.policy, sleep=self._transport.sleep)
            self._backoff.next_attempt()
        if not self._backoff.wait():
            raise ShortReadError(
                f"{self._what}: download failed after {self._pos} bytes ({reason}); "
                f"gave up after {self.resumes} resumed request(s)"
            )
        self._backoff.next_attempt()
        self.resumes += 1
        log.info("%s: resuming at byte %d (%s)", self._what, self._pos, reason)
        response = self._transport.request(
            "GET",
            self._url,
            what=self._what,
            scopes=self._scopes,
            headers={"Range": f"bytes={self._pos}-"},
        )
        if response.status_code == 200:
            self._restart(response)
            return
        if response.status_code != 206:
            raise_for(response, f"{self._what} (resuming at byte {self._pos})")
        span = parse_content_range(response.headers.get("Content-Range"))
        if span is None or span[0] != self._pos:
            response.close()
            raise TransportError(
                f"{self._what}: resumed download at byte {self._pos} got Content-Range "
                f"{response.headers.get('Content-Range')!r}"
            )
        if self._total is None and span[2] is not None:
            self._total = span[2]
        self._response = response

    def _restart(self, response: requests.Response) -> None:
        """Use a ``200`` answer to a resume (``Range`` ignored): skip what was delivered.

        The answer must be the whole blob: its length, when given, has to match the size the
        download expects, and cannot be shorter than what was delivered already.
        """
        length_header = response.headers.get("Content-Length", "").strip()
        length = int(length_header) if length_header.isdigit() else None
        problem: VerificationError | None = None
        if length is not None and self._total is not None and length != self._total:
            kind = SizeLimitExceededError if length > self._total else ShortReadError
            problem = kind(
                f"{self._what}: the registry ignored the Range request to resume at byte "
                f"{self._pos} and answered {length} bytes, not the {self._total} expected"
            )
        elif length is not None and length < self._pos:
            problem = ShortReadError(
                f"{self._what}: the registry ignored the Range request to resume at byte "
                f"{self._pos} and answered only {length} bytes"
            )
        if problem is not None:
            response.close()
            raise problem
        if self._total is None:
            self._total = length
        log.info(
            "%s: the registry ignored Range (HTTP 200); skipping the %d bytes already read",
            self._what,
            self._pos,
        )
        self._skip = self._pos
        self._response = response

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
