"""Blob readers that verify while they stream.

Every blob a scheme hands out goes through :class:`BlobReader`: it hashes each chunk as it
passes, refuses to return bytes past the expected size, and at end of stream raises if the
content was short or hashed to a different digest. A caller that reads to the end has therefore
either got exactly the promised bytes or an exception, with no separate verification step to
forget.

When the size is known, the check runs *before* the last bytes are handed over: the read that
would complete the blob first looks for a trailing byte and compares the digest, and raises
instead of returning them. A consumer that stops at the promised length (a target that stores
exactly ``length`` bytes) therefore never holds a complete wrong blob it could store under its
digest, whatever that consumer is.

``remote`` (given by the scheme) says that the raw stream crossed a network; the errors the
reader raises carry it (:class:`~ocistore.errors.VerificationError`), so that a copy reads damaged
bytes from a registry again but treats a damaged local file as final.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Protocol

from ocistore.digest import Digest, Hasher
from ocistore.errors import (
    DigestMismatchError,
    ShortReadError,
    SizeLimitExceededError,
    VerificationError,
)

__all__ = ["CHUNK_SIZE", "BlobReader", "RawStream"]

#: Read size used when copying streams: large enough to keep syscalls and hashing efficient.
CHUNK_SIZE = 1024 * 1024


class RawStream(Protocol):
    """What a scheme gives the reader: anything with ``read(n)``; ``close`` is optional."""

    def read(self, n: int = -1, /) -> bytes: ...


class BlobReader:
    """A file-like, read-only view of a blob that verifies size and digest at end of stream.

    ``digest`` or ``size`` may be unknown (``None``) when a scheme cannot tell in advance; the
    computed values then fill :attr:`digest` and :attr:`size` once the stream is exhausted.
    """

    def __init__(
        self,
        raw: RawStream | IO[bytes],
        *,
        digest: Digest | None,
        size: int | None,
        name: str = "blob",
        on_close: Callable[[], None] | None = None,
        remote: bool = False,
    ) -> None:
        self._raw = raw
        self._expected_digest = digest
        self._expected_size = size
        self._hasher: Hasher = digest.hasher() if digest else Hasher("sha256")
        self._name = name
        self._on_close = on_close
        self.remote = remote
        self._failed: VerificationError | None = None
        self._done = False
        self._closed = False
        self.digest = digest
        self.size = size

    @property
    def enforced_digest(self) -> Digest | None:
        """The digest this reader refuses to end without (None: it only computes one).

        A consumer that reads to the end may rely on it instead of hashing the bytes again.
        """
        return self._expected_digest

    @property
    def bytes_read(self) -> int:
        return self._hasher.size

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes (all when ``n < 0``); verification happens at end of stream."""
        if self._failed is not None:
            raise self._failed  # a judged blob stays wrong: never a quiet end of stream
        if self._done:
            return b""
        if n is None or n < 0:
            return b"".join(self)
        if self._expected_size is not None:
            n = min(n, self._expected_size - self._hasher.size)
            if n == 0:
                self._finish(trailing=True)
                return b""
        data = self._raw.read(n)
        if not data:
            self._finish()
            return b""
        self._hasher.update(data)
        if self._expected_size is not None and self._hasher.size >= self._expected_size:
            # The last bytes: judge the whole blob before anyone gets them (module docstring).
            self._finish(trailing=True)
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        """Never: a consumer that would retry by rewinding must fetch the blob again."""
        return False

    def _check_trailing(self) -> None:
        """At the expected size, one more byte from the source means the blob is too long."""
        if self._raw.read(1):
            raise SizeLimitExceededError(
                f"{self._name}: more than the expected {self._expected_size} bytes",
                remote=self.remote,
            )

    def _finish(self, *, trailing: bool = False) -> None:
        """End of the blob: judge it; with ``trailing``, a further byte is an error too."""
        try:
            if trailing:
                self._check_trailing()
            self._done = True
            self._judge()
        except VerificationError as error:
            self._done, self._failed = True, error
            raise

    def _judge(self) -> None:
        actual = self._hasher.digest()
        got = self._hasher.size
        if self._expected_size is not None and got < self._expected_size:
            raise ShortReadError(
                f"{self._name}: stream ended after {got} of {self._expected_size} bytes",
                remote=self.remote,
                found=f"{got} bytes",
            )
        if self._expected_digest is not None and actual != self._expected_digest:
            raise DigestMismatchError(
                f"{self._name}: digest mismatch, expected {self._expected_digest}, got {actual}",
                remote=self.remote,
                found=str(actual),
            )
        self.digest = actual
        self.size = got

    def verify_to_end(self) -> None:
        """Drain the rest of the stream, raising on any mismatch."""
        for _ in self:
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        closer = getattr(self._raw, "close", None)
        try:
            if callable(closer):
                closer()
        finally:
            if self._on_close is not None:
                self._on_close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
