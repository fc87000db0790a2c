"""``ocistore index``: build and edit multi-platform OCI indexes from existing manifests.

Sources may live in another repository or scheme; they are copied (by digest) next to the index
first, because an index can only point at manifests in its own repository. An image's platform
comes from its config, so the entry says what the image really is. Editing keeps the other entries'
JSON exactly as it was; only the ``manifests`` list changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocistore.cli.errors import UsageError

if TYPE_CHECKING:
    from ocistore.cli.context import Context
    from ocistore.client import Client
    from ocistore.manifest import Manifest
    from ocistore.platform import Platform
    from ocistore.ref import Ref

__all__ = ["cmd_add", "cmd_create", "cmd_delete"]


def _absolute(sources: list[str]) -> list[str]:
    """Sources written as full references (their registries get ``--user`` credentials too)."""
    return [s for s in sources if not s.startswith((":", "@"))]


def _source_ref(ctx: Context, text: str, index_ref: Ref) -> Ref:
    if text.startswith(":"):
        return index_ref.with_tag(text[1:])
    if text.startswith("@"):
        return index_ref.with_digest(text[1:])
    return ctx.parse(text)


def _platform_of(client: Client, ref: Ref, manifest: Manifest) -> Platform | None:
    from ocistore.cli.image import read_config
    from ocistore.platform import Platform

    config = read_config(client, ref, manifest)
    if not config or not config.get("os") or not config.get("architecture"):
        return None
    return Platform.from_dict(config)


def _wanted(platform: Platform | None, filters: list[Platform]) -> bool:
    if not filters:
        return True
    return platform is not None and any(f.matches(platform) for f in filters)


def _entries(
    ctx: Context, client: Client, index_ref: Ref, sources: list[str]
) -> list[dict[str, Any]]:
    """Index entries for ``sources``, with their content made present next to the index."""
    from ocistore.descriptor import Descriptor

    filters = ctx.opts.platforms
    out: list[dict[str, Any]] = []
    for text in sources:
        src = _source_ref(ctx, text, index_ref)
        manifest = client.manifest_get(src)
        if manifest.is_index:
            picked = [d for d in manifest.manifests if _wanted(d.platform, filters)]
        else:
            plat = _platform_of(client, src, manifest)
            if not _wanted(plat, filters):
                continue
            extra: dict[str, Any] = {"platform": plat} if plat else {}
            if manifest.data.get("artifactType"):
                extra["artifact_type"] = manifest.artifact_type
            picked = [Descriptor(manifest.media_type, manifest.digest, manifest.size, **extra)]
        for desc in picked:
            if not src.same_repository(index_ref):
                client.image_copy(src.with_digest(desc.digest), index_ref.with_digest(desc.digest))
            out.append(desc.to_dict())
    return out


def _put_index(ctx: Context, client: Client, ref: Ref, data: dict[str, Any]) -> None:
    from ocistore import mediatype as mt
    from ocistore.manifest import Manifest

    seen: set[str] = set()
    unique = []
    for entry in data["manifests"]:
        if entry["digest"] not in seen:
            seen.add(entry["digest"])
            unique.append(entry)
    data["manifests"] = unique
    manifest = Manifest.from_data(data, media_type=data.get("mediaType") or mt.OCI_INDEX)
    if ref.tag:
        target = ref.with_tag(ref.tag)
    elif ref.digest is not None:
        target = ref.with_digest(manifest.digest)  # a changed index has a new digest
    else:
        target = ref  # the scheme's default tag applies
    client.manifest_put(target, manifest)
    ctx.out.data(
        {
            "reference": str(target),
            **manifest.descriptor().to_dict(),
            "manifests": len(unique),
        },
        str(manifest.digest),
    )


def cmd_create(ctx: Context) -> None:
    from ocistore import mediatype as mt

    a = ctx.args
    client, (ref, *_) = ctx.open(a.ref, *_absolute(a.sources))
    entries = _entries(ctx, client, ref, a.sources)
    if not entries:
        raise UsageError("no manifests left for the index (check --platform)")
    data: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    if a.annotation:
        data["annotations"] = dict(a.annotation)
    _put_index(ctx, client, ref, data)


def _existing(client: Client, ref: Ref) -> dict[str, Any]:
    from ocistore.errors import ManifestError

    manifest = client.manifest_get(ref)
    if not manifest.is_index:
        raise ManifestError(f"{ref} is not an index ({manifest.media_type})")
    return dict(manifest.data)


def cmd_add(ctx: Context) -> None:
    a = ctx.args
    client, (ref, *_) = ctx.open(a.ref, *_absolute(a.sources))
    data = _existing(client, ref)
    added = _entries(ctx, client, ref, a.sources)
    new = {e["digest"] for e in added}
    data["manifests"] = [e for e in data.get("manifests", []) if e.get("digest") not in new] + added
    _put_index(ctx, client, ref, data)


def cmd_delete(ctx: Context) -> None:
    from ocistore.platform import Platform

    a = ctx.args
    if not a.digest and not ctx.opts.platforms:
        raise UsageError("say which entries to remove with --digest or --platform")
    digests = {str(d) for d in a.digest}
    client, (ref,) = ctx.open(a.ref)
    data = _existing(client, ref)
    before = list(data.get("manifests", []))

    def remove(entry: dict[str, Any]) -> bool:
        if entry.get("digest") in digests:
            return True
        plat = entry.get("platform")
        return isinstance(plat, dict) and any(
            f.matches(Platform.from_dict(plat)) for f in ctx.opts.platforms
        )

    data["manifests"] = [e for e in before if not remove(e)]
    if len(data["manifests"]) == len(before):
        from ocistore.errors import NotFoundError

        raise NotFoundError(f"no entry of {ref} matches what was asked to be removed")
    _put_index(ctx, client, ref, data)
