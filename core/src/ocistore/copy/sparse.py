"""Platform filtering, and the sparse index a filtered copy writes.

Copying only some platforms of an index leaves the original index pointing at children the
target does not have, and registries refuse such an index (distribution validates that every
child exists). So a filtered index is written as a new document that lists only the kept
entries, each entry's JSON kept exactly as it was, every other field of the index untouched.
This is the one place a copy produces new manifest bytes, and :class:`~.CopyResult` says so.
"""

from __future__ import annotations

import json
from typing import Any

from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.manifest import Manifest
from ocistore.mediatype import INDEX_TYPES
from ocistore.platform import Platform

__all__ = ["PlatformFilter", "rewrite_index"]


class PlatformFilter:
    """Which index entries a copy keeps.

    An entry is kept when its platform matches one of the requested ones. An entry without a
    platform is kept when ``""`` was requested, and also when it is itself an index (a nested
    index is filtered in turn rather than dropped wholesale).
    """

    def __init__(self, platforms: tuple[Platform | str, ...]) -> None:
        self.active = bool(platforms)
        self.no_platform = any(p == "" for p in platforms)
        self.platforms = tuple(
            p if isinstance(p, Platform) else Platform.parse(p) for p in platforms if p != ""
        )

    def keeps(self, entry: Descriptor) -> bool:
        if not self.active:
            return True
        if entry.platform is None:
            return self.no_platform or entry.media_type in INDEX_TYPES
        return any(want.matches(entry.platform) for want in self.platforms)

    def __str__(self) -> str:
        names = [str(p) for p in self.platforms] + (['""'] if self.no_platform else [])
        return ", ".join(names)


def rewrite_index(index: Manifest, keep: list[int], replaced: dict[Digest, Manifest]) -> Manifest:
    """A new index with only the entries at positions ``keep``.

    ``replaced`` maps child digests to the documents that stand in for them (a nested index that
    was itself filtered), whose digest and size the entry then takes.
    """
    data: dict[str, Any] = json.loads(index.raw)
    entries: list[dict[str, Any]] = []
    for i in keep:
        entry = dict(data["manifests"][i])
        new = replaced.get(Digest.parse(entry["digest"]))
        if new is not None:
            entry["digest"] = str(new.digest)
            entry["size"] = new.size
        entries.append(entry)
    data["manifests"] = entries
    return Manifest.from_data(data, media_type=index.media_type)
