"""``ocistore image``: copy, digest, inspect, export and import whole images.

Handlers only; the arguments are in :mod:`ocistore.cli.commands`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocistore.cli.output import human_size, table

if TYPE_CHECKING:
    from ocistore.cli.context import Context
    from ocistore.client import Client
    from ocistore.manifest import Manifest
    from ocistore.ref import Ref

__all__ = ["cmd_copy", "cmd_digest", "cmd_export", "cmd_import", "cmd_inspect", "read_config"]


# -- copy ---------------------------------------------------------------------------------------
def cmd_copy(ctx: Context) -> None:
    from ocistore.cli.progress import progress_bars
    from ocistore.copy import CopyOptions

    a = ctx.args
    client, (src, dst) = ctx.open(a.source, a.target)
    options = CopyOptions(
        platforms=tuple(ctx.opts.platforms),
        referrers=a.referrers or bool(a.referrers_artifact_type),
        referrers_artifact_type=a.referrers_artifact_type,
        digest_tags=a.digest_tags,
        fast=a.fast,
        force_recursive=a.force_recursive,
        include_external=a.include_external,
        concurrency=ctx.opts.concurrency,
        attempts=a.attempts,
    )
    with progress_bars(ctx.out.stderr, enabled=not a.no_progress) as progress:
        result = client.image_copy(src, dst, options=options, progress=progress)
    data: dict[str, Any] = {
        "source": str(src),
        "target": str(dst),
        "digest": str(result.digest),
        "mediaType": result.media_type,
        "sourceDigest": str(result.source_digest or result.digest),
        "sparse": result.sparse,
        "skipped": result.skipped,
        "blobsCopied": result.blobs_copied,
        "blobsSkipped": result.blobs_skipped,
        "blobsMounted": result.blobs_mounted,
        "bytesCopied": result.bytes_copied,
        "manifestsPushed": result.manifests_pushed,
        "manifestsSkipped": result.manifests_skipped,
        "referrersCopied": result.referrers_copied,
        "tagsCopied": list(result.tags_copied),
        "retries": result.retries,
    }

    def text() -> str:
        if result.skipped:
            return f"{dst} already has {result.digest}: nothing to copy"
        parts = [
            f"{result.blobs_copied} blobs copied ({human_size(result.bytes_copied)})",
            f"{result.blobs_skipped} already present",
        ]
        if result.blobs_mounted:
            parts.append(f"{result.blobs_mounted} mounted")
        parts.append(f"{result.manifests_pushed} manifests pushed")
        if result.referrers_copied:
            parts.append(f"{result.referrers_copied} referrers")
        if result.retries:
            parts.append(f"{result.retries} transfers retried")
        line = f"copied {src} -> {dst}\ndigest: {result.digest}\n" + ", ".join(parts)
        if result.sparse:
            line += f"\nplatform filter made a new index (source was {result.source_digest})"
        return line

    ctx.out.data(data, text)


# -- digest, inspect ----------------------------------------------------------------------------
def cmd_digest(ctx: Context) -> None:
    client, (ref,) = ctx.open(ctx.args.ref)
    digest = client.image_digest(ref, platform=ctx.platform())
    ctx.out.data({"reference": str(ref), "digest": str(digest)}, str(digest))


def read_config(client: Client, ref: Ref, manifest: Manifest) -> dict[str, Any] | None:
    from ocistore.manifest import MAX_MANIFEST_SIZE

    cfg = manifest.config
    if cfg is None or cfg.size > MAX_MANIFEST_SIZE:
        return None
    if cfg.data is not None:
        raw = cfg.data
    else:
        with client.blob_get(ref, cfg.digest, size=cfg.size) as reader:
            raw = reader.read()
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def cmd_inspect(ctx: Context) -> None:
    client, (ref,) = ctx.open(ctx.args.ref)
    manifest = client.manifest_get(ref, platform=ctx.platform())
    base: dict[str, Any] = {
        "reference": str(ref),
        "digest": str(manifest.digest),
        "mediaType": manifest.media_type,
        "size": manifest.size,
    }
    if manifest.is_index:
        platforms = [
            {
                "platform": str(d.platform) if d.platform else None,
                "digest": str(d.digest),
                "mediaType": d.media_type,
                "size": d.size,
                **({"artifactType": d.artifact_type} if d.artifact_type else {}),
            }
            for d in manifest.manifests
        ]
        data = {**base, "platforms": platforms, "annotations": manifest.annotations}
        rows = [
            (
                str(d.platform) if d.platform else "-",
                str(d.digest),
                d.media_type,
                human_size(d.size),
            )
            for d in manifest.manifests
        ]
        text = _header(base) + "\n\n" + table(("PLATFORM", "DIGEST", "MEDIA TYPE", "SIZE"), rows)
        ctx.out.data(data, text)
        return
    config = read_config(client, ref, manifest)
    layers = manifest.layers
    data = {
        **base,
        "artifactType": manifest.artifact_type,
        "config": config,
        "layers": [d.to_dict() for d in layers],
        "annotations": manifest.annotations,
    }
    ctx.out.data(data, lambda: _image_text(base, manifest, config))


def _header(base: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"reference:  {base['reference']}",
            f"digest:     {base['digest']}",
            f"media type: {base['mediaType']}",
        ]
    )


def _image_text(base: dict[str, Any], manifest: Manifest, config: dict[str, Any] | None) -> str:
    lines = [_header(base)]
    if (
        manifest.artifact_type
        and manifest.config
        and manifest.artifact_type != manifest.config.media_type
    ):
        lines.append(f"artifact:   {manifest.artifact_type}")
    total = sum(d.size for d in manifest.layers)
    lines.append(f"layers:     {len(manifest.layers)} ({human_size(total)})")
    if config:
        plat = "/".join(str(config[k]) for k in ("os", "architecture", "variant") if config.get(k))
        if plat:
            lines.append(f"platform:   {plat}")
        if config.get("created"):
            lines.append(f"created:    {config['created']}")
        inner = config.get("config") if isinstance(config.get("config"), dict) else {}
        for key, label in (
            ("Entrypoint", "entrypoint"),
            ("Cmd", "cmd"),
            ("WorkingDir", "workdir"),
            ("User", "user"),
        ):
            if inner and inner.get(key):
                lines.append(f"{label + ':':<12}{json.dumps(inner[key])}")
        for env in (inner or {}).get("Env") or ():
            lines.append(f"env:        {env}")
        for k, v in sorted(((inner or {}).get("Labels") or {}).items()):
            lines.append(f"label:      {k}={v}")
    for k, v in sorted(manifest.annotations.items()):
        lines.append(f"annotation: {k}={v}")
    for d in manifest.layers:
        title = d.annotations.get("org.opencontainers.image.title", "")
        lines.append(f"  {d.digest}  {human_size(d.size):>10}  {d.media_type}  {title}".rstrip())
    return "\n".join(lines)


# -- export, import: thin verbs over image copy to and from the tar schemes --------------------
@contextlib.contextmanager
def _tar_target(path: str) -> Iterator[Path]:
    """Where ``image export`` writes: a tar in a private temporary directory beside ``path``
    (or in the system temporary directory for stdout), moved over ``path`` only on success,
    so that a failed export leaves neither a partial file nor a changed old one."""
    import shutil
    import tempfile

    target = Path(path)
    parent = None if path == "-" else (target.parent or Path("."))
    if parent is not None and not parent.is_dir():
        raise FileNotFoundError(2, "No such directory", str(parent))
    prefix = f".{target.name}." if parent is not None else "ocistore-export."
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
    try:
        yield tmp / "image.tar"
        if parent is not None:
            os.replace(tmp / "image.tar", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cmd_export(ctx: Context) -> None:
    """``image copy REF ocifile://FILE:NAME``, with FILE replaced whole (or sent to stdout)."""
    import shutil

    from ocistore.copy import CopyOptions
    from ocistore.ref import Ref

    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    source = ref
    platform = ctx.platform()
    if platform is not None:  # the platform's image itself, not an index filtered down to it
        source = ref.with_digest(client.manifest_get(ref, platform=platform).digest)
    with _tar_target(a.file) as path:
        target = Ref("ocifile", path=str(path), tag=a.name or ref.tag)
        result = client.image_copy(
            source, target, options=CopyOptions(include_external=a.include_external)
        )
        client.close(target)
        if a.file == "-":
            with open(path, "rb") as f:
                shutil.copyfileobj(f, ctx.out.binary(), 1024 * 1024)
    data = {
        "reference": str(ref),
        "file": a.file,
        "digest": str(result.digest),
        "mediaType": result.media_type,
        "manifests": result.manifests_pushed,
        "blobs": result.blobs_copied,
        "bytes": result.bytes_copied,
    }
    text = (
        f"exported {ref} ({result.digest}) to {a.file}: {result.manifests_pushed} manifests, "
        f"{result.blobs_copied} blobs, {human_size(result.bytes_copied)}"
    )
    if a.file == "-":
        ctx.out.note(text)  # stdout carries the tar
    else:
        ctx.out.data(data, text)


@contextlib.contextmanager
def _tar_source(path: str, ctx: Context) -> Iterator[Path]:
    """The tar to import: the file itself, or stdin spooled to a temporary file (the tar
    schemes seek to each member, which a pipe cannot do)."""
    if path != "-":
        if not Path(path).is_file():
            raise FileNotFoundError(2, "No such file", path)
        yield Path(path)
        return
    import shutil
    import tempfile

    stdin = ctx.stdin("image import")
    with tempfile.TemporaryDirectory(prefix="ocistore-import.") as tmp:
        spooled = Path(tmp) / "stdin.tar"
        with open(spooled, "wb") as f:
            shutil.copyfileobj(stdin, f, 1024 * 1024)
        yield spooled


def _archive_source(client: Client, path: Path, name: str | None, tag: str) -> tuple[Ref, str]:
    """The reference to copy from, and the format: ``ocifile://`` for an OCI layout tar (also
    a docker-save tar that has one, which keeps its digests), else ``dockertar://``."""
    import dataclasses

    from ocistore.digest import Digest
    from ocistore.errors import InvalidDigestError, LayoutError
    from ocistore.ref import Ref

    found: tuple[Ref, str] | None = None
    for scheme, kind in (("ocifile", "oci"), ("dockertar", "docker")):
        ref = Ref(scheme, path=str(path))
        try:
            client.ping(ref)
        except LayoutError:
            continue
        found = ref, kind
        break
    if found is None:
        raise LayoutError(
            f"{path} is neither an OCI layout tar (oci-layout and index.json) nor a "
            "docker-save tar (manifest.json)"
        )
    ref, kind = found
    if name:
        try:
            return ref.with_digest(Digest.parse(name)), kind
        except InvalidDigestError:  # a tag, or a full name (example.com/app:1.0) as the tar has it
            return dataclasses.replace(ref, tag=name), kind
    if tag and tag in client.tag_list(ref):
        return ref.with_tag(tag), kind  # the target's tag picks the image of the same name
    return ref, kind


def cmd_import(ctx: Context) -> None:
    """``image copy`` from ``ocifile://FILE`` or ``dockertar://FILE`` (``--name`` selects)."""
    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    with _tar_source(a.file, ctx) as path:
        source, kind = _archive_source(client, path, a.name, ref.tag)
        result = client.image_copy(source, ref)
    data = {
        "reference": str(ref),
        "file": a.file,
        "format": kind,
        "digest": str(result.digest),
        "mediaType": result.media_type,
        "manifests": result.manifests_pushed,
        "blobsPushed": result.blobs_copied,
        "blobsSkipped": result.blobs_skipped,
        "bytes": result.bytes_copied,
    }
    label = "docker-save" if kind == "docker" else "OCI layout"
    ctx.out.data(
        data,
        f"imported {label} archive {a.file} to {ref}\ndigest: {result.digest}\n"
        f"{result.blobs_copied} blobs pushed ({human_size(result.bytes_copied)}), "
        f"{result.blobs_skipped} already present",
    )
