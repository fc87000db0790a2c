"""Entry point of the ``ocidir`` scheme: registers it, importing nothing heavy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocistore.hookspecs import hookimpl
from ocistore.ref import Ref, parse_path_reference
from ocistore.scheme import SchemeSpec

if TYPE_CHECKING:
    from ocistore.plugins import SchemeRegistry
    from ocistore.scheme import Scheme
    from ocistore.settings import Settings

__all__ = ["ocistore_add_schemes", "parse"]


def parse(text: str) -> Ref:
    """``ocidir://path[:tag][@digest]``."""
    return parse_path_reference("ocidir", text)


def _factory(settings: Settings) -> Scheme:
    from ocistore_ocidir.scheme import OCIDir

    return OCIDir(settings)


@hookimpl
def ocistore_add_schemes(registry: SchemeRegistry) -> None:
    registry.add(SchemeSpec("ocidir", parse, _factory, description="OCI image layout directory"))
