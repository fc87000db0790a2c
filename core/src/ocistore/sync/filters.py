"""Which tags of a source repository an entry mirrors.

Regular expressions must match the whole tag (anchored, as ``tag ls --include`` and regctl do).
The version filter reads tags as versions with ``packaging`` (PEP 440, which accepts the usual
``1.2.3`` and ``v1.2.3`` tag forms and pre-releases such as ``1.3.0rc1`` or ``1.3.0-rc.1``); a
tag that is not a version never passes it (``latest``, ``1.2-alpine``), and pre-releases pass
only a range that names one (``>=2.0rc1``). ``newest`` keeps that many of the highest versions
that passed every other rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.version import Version

    from ocistore.sync.config import TagRules

__all__ = ["TagFilter"]


def _version(tag: str) -> Version | None:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(tag)
    except InvalidVersion:
        return None


class TagFilter:
    """Apply :class:`~ocistore.sync.config.TagRules` to a list of tags."""

    def __init__(self, rules: TagRules) -> None:
        self.allow = [re.compile(p) for p in rules.allow]
        self.deny = [re.compile(p) for p in rules.deny]
        self.semver = rules.semver
        self.newest = rules.newest

    def select(self, tags: Iterable[str]) -> list[str]:
        """The tags to mirror, sorted by name."""
        kept = [
            t
            for t in tags
            if (not self.allow or any(p.fullmatch(t) for p in self.allow))
            and not any(p.fullmatch(t) for p in self.deny)
        ]
        if self.semver is None and self.newest is None:
            return sorted(kept)
        from packaging.specifiers import SpecifierSet

        spec = SpecifierSet(self.semver or "")
        # Pre-releases count only when the range names one (``>=2.0rc1``), as in PEP 440.
        pre = bool(spec.prereleases)
        versions = [
            (v, t)
            for t in kept
            if (v := _version(t)) is not None and spec.contains(v, prereleases=pre)
        ]
        if self.newest is not None:
            versions = sorted(versions, reverse=True)[: self.newest]
        return sorted(t for _, t in versions)
