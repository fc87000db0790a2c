"""Manifests: OCI image manifest and index, Docker schema2 manifest and manifest list.

A ``Manifest`` is its raw bytes. Everything else (media type, digest, parsed fields) is derived
from them, and nothing re-serialises them: a manifest copied from A to B keeps its digest. Only
:meth:`Manifest.from_data` produces new bytes, for content the user is creating.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from ocistore import mediatype as mt
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import (
    DigestMismatchError,
    ManifestInvalidError,
    NotFoundError,
    SizeLimitExceededError,
    UnsupportedMediaTypeError,
)
from ocistore.platform import Platform
from ocistore.validation import validate_document

__all__ = ["MAX_MANIFEST_SIZE", "Manifest"]

#: The most bytes read into memory for one manifest (registries allow 4 MiB on push).
MAX_MANIFEST_SIZE = 8 * 1024 * 1024

_SCHEMA = {
    mt.OCI_MANIFEST: "ociManifest",
    mt.OCI_INDEX: "ociIndex",
    mt.DOCKER_MANIFEST: "dockerManifest",
    mt.DOCKER_MANIFEST_LIST: "dockerManifestList",
}


def _sniff(doc: dict[str, Any]) -> str:
    """Media type of a body that does not say: schema1 by version, then by shape."""
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1_SIGNED if "signatures" in doc else mt.DOCKER_SCHEMA1
    if isinstance(doc.get("manifests"), list):
        first = doc["manifests"][0] if doc["manifests"] else {}
        docker = isinstance(first, dict) and str(first.get("mediaType", "")).startswith(
            "application/vnd.docker."
        )
        return mt.DOCKER_MANIFEST_LIST if docker else mt.OCI_INDEX
    if isinstance(doc.get("config"), dict):
        # umoci and early tools omit mediaType; the config type tells Docker from OCI.
        docker = str(doc["config"].get("mediaType", "")).startswith("application/vnd.docker.")
        return mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST
    raise UnsupportedMediaTypeError(
        "cannot tell the manifest type: no mediaType, config or manifests"
    )


class Manifest:
    """An immutable manifest: exact bytes plus the facts derived from them."""

    __slots__ = ("__dict__", "_digest", "_media_type", "_raw")

    def __init__(self, raw: bytes, media_type: str, digest: Digest) -> None:
        self._raw = raw
        self._media_type = media_type
        self._digest = digest

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_bytes(
        cls,
        raw: bytes,
        *,
        media_type: str | None = None,
        expected_digest: Digest | str | None = None,
        validate: bool = True,
    ) -> Manifest:
        """Parse ``raw`` as received.

        ``media_type`` is what the transport said (descriptor or Content-Type); the body's own
        ``mediaType`` must agree with it. ``expected_digest`` (from the reference or descriptor)
        is checked against the bytes, whose digest always wins over any header.
        """
        if len(raw) > MAX_MANIFEST_SIZE:
            raise SizeLimitExceededError(
                f"manifest is {len(raw)} bytes, over the {MAX_MANIFEST_SIZE} byte limit"
            )
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise ManifestInvalidError(f"manifest is not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise ManifestInvalidError("manifest is not a JSON object")
        given = mt.normalize(media_type)
        body = doc.get("mediaType")
        if body is not None and not isinstance(body, str):
            raise ManifestInvalidError("mediaType: expected a string")
        if given in ("", mt.OCTET_STREAM, "application/json", "text/plain"):
            given = ""
        if given and body and given != body:
            raise ManifestInvalidError(
                f"manifest mediaType {body!r} disagrees with the declared type {given!r}"
            )
        kind = given or body or _sniff(doc)
        if expected_digest is not None:
            expected = Digest.parse(expected_digest)
            actual = Digest.from_bytes(raw, expected.algorithm)
            if actual != expected:
                raise DigestMismatchError(
                    f"manifest digest mismatch: expected {expected}, content hashes to {actual}"
                )
        else:
            actual = Digest.from_bytes(raw)
        man = cls(raw, kind, actual)
        man.__dict__["data"] = doc
        if validate and kind in _SCHEMA:
            validate_document(_SCHEMA[kind], doc, what=f"manifest {actual} ({kind})")
        return man

    @classmethod
    def from_data(cls, data: dict[str, Any], *, media_type: str | None = None) -> Manifest:
        """Serialise a new manifest (compact JSON, keys in the given order) and parse it back."""
        if media_type and "mediaType" not in data:
            data = {"schemaVersion": data.get("schemaVersion", 2), "mediaType": media_type, **data}
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        return cls.from_bytes(raw, media_type=media_type)

    # -- identity -----------------------------------------------------------------------------
    @property
    def raw(self) -> bytes:
        return self._raw

    @property
    def media_type(self) -> str:
        return self._media_type

    @property
    def digest(self) -> Digest:
        return self._digest

    @property
    def size(self) -> int:
        return len(self._raw)

    @cached_property
    def data(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self._raw)
        return parsed

    def descriptor(self, **extra: Any) -> Descriptor:
        """A descriptor for this manifest; artifactType and annotations can be passed in."""
        return Descriptor(self._media_type, self._digest, self.size, **extra)

    # -- kind ---------------------------------------------------------------------------------
    @property
    def is_index(self) -> bool:
        return self._media_type in mt.INDEX_TYPES

    @property
    def is_image(self) -> bool:
        return self._media_type in mt.IMAGE_TYPES

    @property
    def is_schema1(self) -> bool:
        return self._media_type in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED)

    def check_writable(self) -> None:
        """Refuse types no store should accept on write (Docker schema1)."""
        if self.is_schema1:
            raise UnsupportedMediaTypeError(
                f"manifest {self._digest} is Docker schema1 ({self._media_type}), which is "
                "deprecated and not supported for writing",
                hint="convert it with a tool that rewrites images, then copy the result",
            )

    # -- fields -------------------------------------------------------------------------------
    @cached_property
    def config(self) -> Descriptor | None:
        cfg = self.data.get("config")
        return Descriptor.from_dict(cfg, where="config") if cfg is not None else None

    @cached_property
    def layers(self) -> tuple[Descriptor, ...]:
        return tuple(
            Descriptor.from_dict(d, where=f"layers[{i}]")
            for i, d in enumerate(self.data.get("layers") or ())
        )

    @cached_property
    def manifests(self) -> tuple[Descriptor, ...]:
        return tuple(
            Descriptor.from_dict(d, where=f"manifests[{i}]")
            for i, d in enumerate(self.data.get("manifests") or ())
        )

    @cached_property
    def subject(self) -> Descriptor | None:
        sub = self.data.get("subject")
        return Descriptor.from_dict(sub, where="subject") if sub is not None else None

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.data.get("annotations") or {})

    @property
    def artifact_type(self) -> str:
        """The artifactType, else (for images) the config media type, as referrers report it."""
        explicit = self.data.get("artifactType")
        if explicit:
            return str(explicit)
        if self.config is not None:
            return self.config.media_type
        return ""

    def children(self) -> tuple[Descriptor, ...]:
        """What this manifest points at: config and layers, or the index entries."""
        if self.is_index:
            return self.manifests
        return ((self.config,) if self.config else ()) + self.layers

    def referrer_descriptor(self) -> Descriptor:
        """This manifest as a referrers-list entry (artifactType and annotations pulled up)."""
        return self.descriptor(artifact_type=self.artifact_type, annotations=self.annotations)

    def find_platform(self, platform: Platform) -> Descriptor:
        """The first index entry that satisfies ``platform``; the error lists what exists."""
        if not self.is_index:
            raise NotFoundError(f"manifest {self._digest} is not an index; it has no platforms")
        for desc in self.manifests:
            if desc.platform is not None and platform.matches(desc.platform):
                return desc
        have = ", ".join(str(d.platform) for d in self.manifests if d.platform) or "none"
        raise NotFoundError(
            f"platform {platform} not found in index {self._digest} (available: {have})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._digest)

    def __repr__(self) -> str:
        return f"Manifest({self._media_type!r}, {self._digest}, {self.size} bytes)"
