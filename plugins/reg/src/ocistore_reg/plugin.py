"""Entry point of the ``reg`` scheme: registers it without importing requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocistore.hookspecs import hookimpl
from ocistore.ref import Ref, parse_reg_reference, split_scheme
from ocistore.scheme import SchemeSpec

if TYPE_CHECKING:
    from ocistore.plugins import SchemeRegistry
    from ocistore.scheme import Scheme
    from ocistore.settings import Settings

__all__ = ["ocistore_add_schemes", "parse"]


def parse(text: str) -> Ref:
    """``[registry[:port]/]repo[:tag][@digest]``, optionally written as ``reg://...``."""
    prefix, rest = split_scheme(text)
    return parse_reg_reference(rest if prefix == "reg" else text)


def _factory(settings: Settings) -> Scheme:
    from ocistore_reg.scheme import Reg

    return Reg(settings)


@hookimpl
def ocistore_add_schemes(registry: SchemeRegistry) -> None:
    registry.add(SchemeSpec("reg", parse, _factory, description="OCI/Docker registry over HTTP"))
