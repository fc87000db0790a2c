"""``ocistore image``: copy, digest, inspect, export and import whole images.

Handlers only; the arguments are in :mod:`ocistore.cli.commands`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

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


# -- export, import -----------------------------------------------------------------------------
@contextlib.contextmanager
def _output_file(path: str, ctx: Context) -> Iterator[IO[bytes]]:
    """Stdout for ``-``; otherwise a temporary file renamed into place only on success."""
    if path == "-":
        yield ctx.out.binary()
        return
    import tempfile

    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def cmd_export(ctx: Context) -> None:
    from ocistore.archive import export_oci

    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    if a.file != "-" and not Path(a.file).parent.is_dir():
        raise FileNotFoundError(2, "No such directory", str(Path(a.file).parent))
    with _output_file(a.file, ctx) as out:
        result = export_oci(
            client,
            ref,
            out,
            platform=ctx.platform(),
            tag=a.name,
            include_external=a.include_external,
        )
    data = {
        "reference": str(ref),
        "file": a.file,
        "digest": str(result.digest),
        "mediaType": result.media_type,
        "manifests": result.manifests,
        "blobs": result.blobs,
        "bytes": result.bytes,
    }
    text = (
        f"exported {ref} ({result.digest}) to {a.file}: {result.manifests} manifests, "
        f"{result.blobs} blobs, {human_size(result.bytes)}"
    )
    if a.file == "-":
        ctx.out.note(text)  # stdout carries the tar
    else:
        ctx.out.data(data, text)


def cmd_import(ctx: Context) -> None:
    from ocistore.archive import import_archive

    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    source: str | IO[bytes] = ctx.stdin("image import") if a.file == "-" else a.file
    result = import_archive(client, ref, source, name=a.name)
    data = {
        "reference": str(ref),
        "file": a.file,
        "format": result.format,
        "digest": str(result.digest),
        "mediaType": result.media_type,
        "manifests": result.manifests,
        "blobsPushed": result.blobs_pushed,
        "blobsSkipped": result.blobs_skipped,
        "bytes": result.bytes,
    }
    kind = "docker-save" if result.format == "docker" else "OCI layout"
    ctx.out.data(
        data,
        f"imported {kind} archive {a.file} to {ref}\ndigest: {result.digest}\n"
        f"{result.blobs_pushed} blobs pushed ({human_size(result.bytes)}), "
        f"{result.blobs_skipped} already present",
    )
