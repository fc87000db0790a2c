"""``ocistore manifest``: get, head, put and delete single manifests, bytes untouched.

Handlers only; the arguments are in :mod:`ocistore.cli.commands`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ocistore.cli.errors import UsageError
from ocistore.cli.output import human_size

if TYPE_CHECKING:
    from ocistore.cli.context import Context

__all__ = ["cmd_delete", "cmd_get", "cmd_head", "cmd_put"]


def cmd_get(ctx: Context) -> None:
    client, (ref,) = ctx.open(ctx.args.ref)
    manifest = client.manifest_get(ref, platform=ctx.platform())
    if ctx.out.format is None:
        out = ctx.out.binary()
        out.write(manifest.raw)
        out.flush()
        return
    data: dict[str, Any] = {
        "reference": str(ref),
        "descriptor": manifest.descriptor().to_dict(),
        "manifest": manifest.data,
    }

    def text() -> str:
        return (
            f"reference:  {ref}\ndigest:     {manifest.digest}\n"
            f"media type: {manifest.media_type}\nsize:       {human_size(manifest.size)}\n\n"
            + json.dumps(manifest.data, indent=2)
        )

    ctx.out.data(data, text)


def cmd_head(ctx: Context) -> None:
    client, (ref,) = ctx.open(ctx.args.ref)
    desc = client.manifest_head(ref, platform=ctx.platform())
    ctx.out.data({"reference": str(ref), **desc.to_dict()}, str(desc.digest))


def cmd_put(ctx: Context) -> None:
    from ocistore.manifest import MAX_MANIFEST_SIZE, Manifest

    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    if a.file == "-":
        raw = ctx.stdin("manifest put").read(MAX_MANIFEST_SIZE + 1)
    else:
        with open(a.file, "rb") as f:
            raw = f.read(MAX_MANIFEST_SIZE + 1)
    manifest = Manifest.from_bytes(
        raw,
        media_type=a.content_type,
        expected_digest=ref.digest,
    )
    target = ref.with_digest(manifest.digest) if a.by_digest else ref
    client.manifest_put(target, manifest)
    ctx.out.data(
        {"reference": str(target), **manifest.descriptor().to_dict()}, str(manifest.digest)
    )


def cmd_delete(ctx: Context) -> None:
    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    if ref.digest is None:
        if not a.force_tag_dereference:
            raise UsageError(
                f"manifest delete needs a digest: {ref} has only a tag",
                hint="deleting a manifest removes every tag pointing at it; use 'tag delete' "
                "to remove one tag, or --force-tag-dereference to delete what the tag points at",
            )
        ref = ref.with_digest(client.manifest_head(ref).digest)
    client.manifest_delete(ref)
    ctx.out.data({"deleted": str(ref), "digest": str(ref.digest)}, f"deleted {ref}")
