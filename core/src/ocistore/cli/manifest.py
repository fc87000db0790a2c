"""``ocistore manifest``: get, head, put and delete single manifests, bytes untouched."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ocistore.cli.errors import UsageError
from ocistore.cli.output import human_size
from ocistore.cli.parser import Subparsers, action, group

if TYPE_CHECKING:
    from ocistore.cli.context import Context

__all__ = ["register"]


def register(verbs: Subparsers) -> None:
    sub = group(verbs, "manifest", "read and write single manifests")

    p = action(
        sub,
        "get",
        cmd_get,
        "print a manifest (the exact bytes, unless --format is given)",
        description="Print the manifest at REF. Without --format the raw body is written "
        "unchanged (its digest is the digest of the output); --format text shows a summary and "
        "the indented document, --format json wraps it with its descriptor.",
    )
    p.add_argument("ref", metavar="REF")

    p = action(sub, "head", cmd_head, "print the digest (and descriptor) of a manifest")
    p.add_argument("ref", metavar="REF")

    p = action(
        sub,
        "put",
        cmd_put,
        "store a manifest read from FILE or stdin",
        epilog="examples:\n"
        "  ocistore manifest get ocidir://a:1 | ocistore manifest put ocidir://b:1\n"
        "  ocistore manifest put --content-type application/vnd.oci.image.index.v1+json "
        "ocidir://b:multi index.json\n",
    )
    p.add_argument("ref", metavar="REF", help="tag or digest reference to store at")
    p.add_argument("file", metavar="FILE", nargs="?", default="-", help="default: stdin")
    p.add_argument(
        "--content-type",
        metavar="TYPE",
        help="media type of the body (default: its mediaType field, or sniffed)",
    )
    p.add_argument(
        "--by-digest", action="store_true", help="store by digest only, without touching a tag"
    )

    p = action(
        sub,
        "delete",
        cmd_delete,
        "delete a manifest by digest (every tag on it goes too)",
        aliases=("rm",),
    )
    p.add_argument("ref", metavar="REF", help="a reference with @DIGEST")
    p.add_argument(
        "--force-tag-dereference",
        action="store_true",
        help="accept a tag: resolve it and delete that digest (removes ALL its tags)",
    )


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
