"""``--shard K/N``: N runs of the same command, each doing a disjoint part of the work.

The unit of work is one target tag (an image entry is one unit, a repository entry one unit
per selected tag). A unit belongs to shard ``1 + (h mod N)``, where ``h`` is the first 8 bytes
of the SHA-256 of the unit's target reference. That needs no coordination and no shared state:
every shard lists the same sources and keeps its own units, so N copies started by any job
runner (a CI matrix, a Kubernetes indexed Job, cron on N hosts) together do everything once,
and a tag keeps its shard when other tags come and go.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["Shard"]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: K/N needs 1 <= K <= N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/3"``: shard 2 of 3."""
        match = re.fullmatch(r"([0-9]+)/([0-9]+)", text.strip())
        if match is None:
            raise ValueError(f"expected K/N (such as 1/3), got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, key: str) -> bool:
        """Whether the unit named ``key`` is this shard's."""
        if self.count == 1:
            return True
        h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        return h % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
