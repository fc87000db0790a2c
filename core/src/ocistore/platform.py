"""Platforms (``os/arch[/variant]``) and how index entries match them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ocistore.errors import OCIStoreError

__all__ = ["Platform"]

# Variants a platform has when none is written; used so "linux/arm64" matches "linux/arm64/v8".
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7", "amd64": ""}
_MACHINE_TO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


@dataclass(frozen=True)
class Platform:
    """The ``platform`` object of an index entry."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]`` (``local`` means this machine)."""
        if text == "local":
            return cls.host()
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise OCIStoreError(
                f"invalid platform {text!r}: expected os/architecture[/variant], "
                "e.g. linux/arm64/v8"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def host(cls) -> Platform:
        import platform as _host  # here: 1-2 ms of start-up that most commands never need

        machine = _host.machine().lower()
        return cls(_host.system().lower(), _MACHINE_TO_ARCH.get(machine, machine))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Platform:
        return cls(
            os=str(data.get("os", "")),
            architecture=str(data.get("architecture", "")),
            variant=str(data.get("variant", "")),
            os_version=str(data.get("os.version", "")),
            os_features=tuple(data.get("os.features", ()) or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def _variant(self) -> str:
        return self.variant or _DEFAULT_VARIANT.get(self.architecture, "")

    def matches(self, other: Platform) -> bool:
        """True when ``other`` (an index entry) satisfies this requested platform.

        A request without a variant takes the architecture's default variant; an os.version is
        compared only when the request names one.
        """
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self._variant() != other._variant():
            return False
        return not self.os_version or self.os_version == other.os_version

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base
