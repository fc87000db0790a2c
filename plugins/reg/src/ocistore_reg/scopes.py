"""Token scopes for what a request is about to do (distribution ``spec/auth/scope.md``).

GET and HEAD need ``pull``; writes need ``pull,push``; a cross-repository mount also needs
``pull`` on the source; deleting content needs ``delete`` (distribution checks that action for
``DELETE`` of manifests and blobs, while cancelling an upload is part of ``push``).
"""

from __future__ import annotations

__all__ = ["CATALOG", "delete", "pull", "push"]

CATALOG = "registry:catalog:*"


def pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def push(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def delete(repository: str) -> str:
    return f"repository:{repository}:delete"
