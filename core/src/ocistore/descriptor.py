"""Content descriptors: the pointer type that links manifests, indexes, configs and layers."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ocistore.digest import EMPTY_JSON_DIGEST, Digest
from ocistore.errors import ManifestInvalidError
from ocistore.mediatype import OCI_EMPTY
from ocistore.platform import Platform

__all__ = ["EMPTY_DESCRIPTOR", "Descriptor"]

_KNOWN_KEYS = {
    "mediaType",
    "digest",
    "size",
    "urls",
    "annotations",
    "data",
    "artifactType",
    "platform",
}


@dataclass(frozen=True)
class Descriptor:
    """An OCI descriptor.

    Unknown JSON fields are kept in ``extra`` so that a descriptor read from a document (an
    ``index.json`` entry, say) writes back without losing anything.
    """

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None
    artifact_type: str = ""
    platform: Platform | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: Any, *, where: str = "descriptor") -> Descriptor:
        """Build from parsed JSON; ``where`` names the field in error messages."""
        if not isinstance(obj, dict):
            raise ManifestInvalidError(f"{where}: expected an object, got {type(obj).__name__}")
        try:
            digest = Digest.parse(obj["digest"])
        except KeyError:
            raise ManifestInvalidError(f"{where}.digest: missing") from None
        except Exception as e:
            raise ManifestInvalidError(f"{where}.digest: {e}") from e
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestInvalidError(
                f"{where}.size: expected a non-negative integer, got {size!r}"
            )
        media_type = obj.get("mediaType", "")
        if not isinstance(media_type, str):
            raise ManifestInvalidError(f"{where}.mediaType: expected a string")
        data = None
        if "data" in obj:
            try:
                data = base64.b64decode(obj["data"], validate=True)
            except Exception as e:
                raise ManifestInvalidError(f"{where}.data: not valid base64") from e
        urls = obj.get("urls") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ManifestInvalidError(f"{where}.urls: expected a list of strings")
        annotations = obj.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise ManifestInvalidError(f"{where}.annotations: expected an object")
        plat = obj.get("platform")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            urls=tuple(urls),
            annotations=dict(annotations),
            data=data,
            artifact_type=str(obj.get("artifactType", "")),
            platform=Platform.from_dict(plat) if isinstance(plat, dict) else None,
            extra={k: v for k, v in obj.items() if k not in _KNOWN_KEYS},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        out.update(self.extra)
        return out

    def replace(self, **changes: Any) -> Descriptor:
        from dataclasses import replace

        return replace(self, **changes)


EMPTY_DESCRIPTOR = Descriptor(OCI_EMPTY, EMPTY_JSON_DIGEST, 2, data=b"{}")
