"""Repository listing through Docker's ``/v2/_catalog`` (not part of the OCI spec)."""

from __future__ import annotations

from ocistore.errors import UnsupportedError
from ocistore_reg import scopes
from ocistore_reg.http import Transport
from ocistore_reg.pages import collect_names

__all__ = ["repo_list"]


def _no_catalog(message: str) -> UnsupportedError:
    # A 404 here means the endpoint, not a repository, is missing.
    return UnsupportedError(f"{message} (this registry does not offer /v2/_catalog)")


def repo_list(t: Transport, *, limit: int | None, last: str | None) -> list[str]:
    return collect_names(
        t,
        t.url("/v2/_catalog"),
        key="repositories",
        what=f"list repositories of {t.hostname}",
        scopes=(scopes.CATALOG,),
        limit=limit,
        last=last,
        not_found=_no_catalog,
    )
