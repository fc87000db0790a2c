"""``ocistore tag`` (list, delete) and ``ocistore repo ls``.

Handlers only; the arguments are in :mod:`ocistore.cli.commands`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from ocistore.cli.errors import UsageError

if TYPE_CHECKING:
    from ocistore.cli.context import Context
    from ocistore.ref import Ref

__all__ = ["cmd_delete", "cmd_ls", "cmd_repo_ls", "registry_ref", "select_tags"]


def select_tags(
    tags: list[str], include: list[re.Pattern[str]], exclude: list[re.Pattern[str]]
) -> list[str]:
    """Filter with anchored patterns: kept if any include matches and no exclude does."""
    out = []
    for tag in tags:
        if include and not any(p.fullmatch(tag) for p in include):
            continue
        if any(p.fullmatch(tag) for p in exclude):
            continue
        out.append(tag)
    return out


def cmd_ls(ctx: Context) -> None:
    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    tags = client.tag_list(ref.bare(), limit=a.limit, last=a.last)
    tags = select_tags(tags, a.include, a.exclude)
    ctx.out.data({"repository": str(ref.bare()), "tags": tags}, "\n".join(tags))


def cmd_delete(ctx: Context) -> None:
    client, (ref,) = ctx.open(ctx.args.ref)
    if not ref.tag:
        raise UsageError(f"tag delete needs a tag: {ctx.args.ref}")
    if ref.digest is not None:
        raise UsageError(
            f"tag delete takes a tag, not a digest: {ctx.args.ref}",
            hint="to delete the manifest itself use 'manifest delete'",
        )
    client.tag_delete(ref)
    ctx.out.data({"deleted": str(ref)}, f"deleted tag {ref}")


def registry_ref(ctx: Context, text: str) -> Ref:
    """A repository-less reference to a registry host, parsed with the default grammar."""
    if "://" in text:
        return ctx.parse(text)
    if "/" in text:
        raise UsageError(f"expected a registry HOST[:PORT], got {text!r}")
    ref = ctx.parse(f"{text}/x")
    return replace(ref, repository="", tag="", digest=None)


def cmd_repo_ls(ctx: Context) -> None:
    a = ctx.args
    ref = registry_ref(ctx, a.registry)
    client = ctx.client([ref])
    names = client.repo_list(ref, limit=a.limit, last=a.last)
    ctx.out.data({"registry": a.registry, "repositories": names}, "\n".join(names))
