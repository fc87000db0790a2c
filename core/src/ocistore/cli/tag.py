"""``ocistore tag`` (list, delete) and ``ocistore repo ls``."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from ocistore.cli.errors import UsageError
from ocistore.cli.options import positive_int
from ocistore.cli.parser import Subparsers, action, group

if TYPE_CHECKING:
    from ocistore.cli.context import Context
    from ocistore.ref import Ref

__all__ = ["register"]


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {e}") from None


def register(verbs: Subparsers) -> None:
    sub = group(verbs, "tag", "list and delete tags")
    p = action(
        sub,
        "ls",
        cmd_ls,
        "list the tags of a repository",
        description="List the tags of a repository. --include and --exclude take regular "
        "expressions that must match the whole tag (they are anchored, as in regctl).",
        epilog="examples:\n"
        "  ocistore tag ls ocidir://store\n"
        "  ocistore tag ls --include 'v1\\..*' --exclude '.*-rc.*' 127.0.0.1:5000/app\n",
        aliases=("list",),
    )
    p.add_argument("ref", metavar="REPO", help="repository (a tag or digest is ignored)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="ask for at most N tags")
    p.add_argument("--last", metavar="TAG", help="start after this tag (pagination)")
    p.add_argument(
        "--include",
        type=_regex,
        action="append",
        default=[],
        metavar="REGEX",
        help="keep tags matching REGEX (repeatable; any may match)",
    )
    p.add_argument(
        "--exclude",
        type=_regex,
        action="append",
        default=[],
        metavar="REGEX",
        help="drop tags matching REGEX (repeatable)",
    )

    p = action(sub, "delete", cmd_delete, "remove a tag (the manifest stays)", aliases=("rm",))
    p.add_argument("ref", metavar="REF", help="reference with the tag to remove")

    repo = group(verbs, "repo", "list repositories of a registry")
    p = action(repo, "ls", cmd_repo_ls, "list repositories (registry catalog)", aliases=("list",))
    p.add_argument("registry", metavar="REGISTRY", help="HOST[:PORT] (or a prefixed location)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="ask for at most N names")
    p.add_argument("--last", metavar="NAME", help="start after this repository (pagination)")


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
