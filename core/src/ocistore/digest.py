"""Content digests (image-spec ``algorithm:encoded``).

A digest is the only thing that names content, and it ends up in file paths (``blobs/sha256/<hex>``)
and URLs, so it is validated once at construction and is immutable afterwards: code holding a
``Digest`` never needs to re-check it for ``..`` or separators.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ocistore.errors import InvalidDigestError
from ocistore.lazyre import LazyPattern

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["EMPTY_DIGEST", "EMPTY_JSON_DIGEST", "Digest", "Hasher"]

_GRAMMAR = LazyPattern(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
# Algorithms we can verify, with the exact shape of their encoded part.
_KNOWN = {
    "sha256": LazyPattern(r"^[a-f0-9]{64}$"),
    "sha512": LazyPattern(r"^[a-f0-9]{128}$"),
}


@dataclass(frozen=True, slots=True)
class Digest:
    """A validated ``algorithm:encoded`` content digest.

    Only registered algorithms (sha256, sha512) are accepted: an unverifiable digest would defeat
    the promise that every read is checked.
    """

    algorithm: str
    encoded: str

    def __post_init__(self) -> None:
        text = f"{self.algorithm}:{self.encoded}"
        if not _GRAMMAR.match(text):
            raise InvalidDigestError(f"invalid digest {text!r}: expected algorithm:hex")
        shape = _KNOWN.get(self.algorithm)
        if shape is None:
            raise InvalidDigestError(
                f"invalid digest {text!r}: unsupported algorithm {self.algorithm!r} "
                f"(supported: {', '.join(sorted(_KNOWN))})"
            )
        if not shape.match(self.encoded):
            raise InvalidDigestError(
                f"invalid digest {text!r}: {self.algorithm} needs "
                f"{64 if self.algorithm == 'sha256' else 128} lowercase hex characters"
            )

    @classmethod
    def parse(cls, text: str | Digest) -> Digest:
        """Parse and validate ``text``; a ``Digest`` passes through unchanged."""
        if isinstance(text, Digest):
            return text
        if not isinstance(text, str) or ":" not in text:
            raise InvalidDigestError(f"invalid digest {text!r}: expected algorithm:hex")
        algorithm, _, encoded = text.partition(":")
        return cls(algorithm, encoded)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """Digest of ``data`` (for manifests and other small, in-memory content)."""
        h = Hasher(algorithm)
        h.update(data)
        return h.digest()

    @staticmethod
    def supported_algorithms() -> tuple[str, ...]:
        return tuple(sorted(_KNOWN))

    def hasher(self) -> Hasher:
        """A fresh hasher of this digest's algorithm, to verify a stream against it."""
        return Hasher(self.algorithm)

    @property
    def referrers_tag(self) -> str:
        """The distribution-spec referrers fallback tag for this digest (``sha256-<hex>``)."""
        raw = f"{self.algorithm[:32]}-{self.encoded[:64]}"
        return re.sub(r"[^a-zA-Z0-9._-]", "-", raw)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    def __repr__(self) -> str:
        return f"Digest({str(self)!r})"


class Hasher:
    """Incremental hash that yields a ``Digest``; one place to map algorithm names to hashlib."""

    __slots__ = ("_algorithm", "_h", "size")

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in _KNOWN:
            raise InvalidDigestError(f"unsupported digest algorithm {algorithm!r}")
        self._algorithm = algorithm
        self._h: _Hash = hashlib.new(algorithm)
        self.size = 0

    @property
    def algorithm(self) -> str:
        return self._algorithm

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self._algorithm, self._h.hexdigest())


EMPTY_DIGEST = Digest.from_bytes(b"")
EMPTY_JSON_DIGEST = Digest.from_bytes(b"{}")
