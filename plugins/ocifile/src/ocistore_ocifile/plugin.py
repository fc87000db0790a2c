"""Entry point of the ``ocifile`` and ``dockertar`` schemes: registers both, importing nothing.

``dockertar`` names docker-save tars (what ``docker save`` writes and ``docker load`` reads)
after what they are, a tar from docker; ``dockerfile`` would read as the build recipe, and
``docker-archive`` (skopeo's transport name) as something docker's registry serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocistore.hookspecs import hookimpl
from ocistore.ref import Ref, parse_path_reference
from ocistore.scheme import SchemeSpec

if TYPE_CHECKING:
    from ocistore.plugins import SchemeRegistry
    from ocistore.scheme import Scheme
    from ocistore.settings import Settings

__all__ = ["ocistore_add_schemes", "parse", "parse_docker"]


def parse(text: str) -> Ref:
    """``ocifile://path.tar[:tag][@digest]``."""
    return parse_path_reference("ocifile", text)


def parse_docker(text: str) -> Ref:
    """``dockertar://path.tar[:tag][@digest]``."""
    return parse_path_reference("dockertar", text)


def _factory(settings: Settings) -> Scheme:
    from ocistore_ocifile.ocitar import OCIFile

    return OCIFile(settings)


def _docker_factory(settings: Settings) -> Scheme:
    from ocistore_ocifile.dockertar import DockerTar

    return DockerTar(settings)


@hookimpl
def ocistore_add_schemes(registry: SchemeRegistry) -> None:
    registry.add(SchemeSpec("ocifile", parse, _factory, description="OCI image layout tar"))
    registry.add(
        SchemeSpec(
            "dockertar", parse_docker, _docker_factory, description="docker-save tar (docker load)"
        )
    )
