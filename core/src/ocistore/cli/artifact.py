"""``ocistore artifact``: files as OCI artifacts (put, get) and the referrers of a subject (list).

An artifact here is what OCI 1.1 recommends: an image manifest with ``artifactType``, the empty
config (``{}``), and one layer per file, named by ``org.opencontainers.image.title``. ``get``
writes those files back, each verified against its digest before it is renamed into place.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocistore.cli.arguments import DEFAULT_ARTIFACT_TYPE
from ocistore.cli.blob import _write_verified
from ocistore.cli.errors import UsageError
from ocistore.cli.output import human_size, table

if TYPE_CHECKING:
    from ocistore.cli.context import Context
    from ocistore.client import Client
    from ocistore.descriptor import Descriptor
    from ocistore.ref import Ref

__all__ = ["DEFAULT_ARTIFACT_TYPE", "TITLE", "cmd_get", "cmd_list", "cmd_put"]

TITLE = "org.opencontainers.image.title"


# -- put ----------------------------------------------------------------------------------------
def _subject_ref(ctx: Context, text: str, ref: Ref) -> Ref:
    if text.startswith(":"):
        return ref.with_tag(text[1:])
    if text.startswith("@"):
        return ref.with_digest(text[1:])
    subject = ctx.parse(text)
    if not subject.same_repository(ref):
        raise UsageError(
            f"--subject {text} is not in the repository of {ref.location}",
            hint="referrers live next to their subject; store the artifact in that repository",
        )
    return subject


def _push_file(client: Client, ref: Ref, path: Path, media_type: str) -> Descriptor:
    from ocistore.descriptor import Descriptor

    with path.open("rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is not a regular file")
        digest, size = client.blob_put(ref, f, length=st.st_size)
    return Descriptor(media_type, digest, size, annotations={TITLE: path.name})


def cmd_put(ctx: Context) -> None:
    import io

    from ocistore import mediatype as mt
    from ocistore.descriptor import EMPTY_DESCRIPTOR, Descriptor
    from ocistore.manifest import Manifest

    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    paths = [Path(f) for f in a.files]
    names = [p.name for p in paths]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two files would have the same title: {', '.join(dupes)}")
    subject = None
    if a.subject:
        subject_ref = _subject_ref(ctx, a.subject, ref)
        head = client.manifest_head(subject_ref)
        subject = Descriptor(head.media_type, head.digest, head.size)
    empty = Descriptor(EMPTY_DESCRIPTOR.media_type, EMPTY_DESCRIPTOR.digest, EMPTY_DESCRIPTOR.size)
    client.blob_put(ref, io.BytesIO(b"{}"), digest=empty.digest, length=empty.size)
    layers = [_push_file(client, ref, p, a.media_type) for p in paths] or [empty]
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": a.artifact_type,
        "config": empty.to_dict(),
        "layers": [d.to_dict() for d in layers],
    }
    if subject is not None:
        data["subject"] = subject.to_dict()
    if a.annotation:
        data["annotations"] = dict(a.annotation)
    manifest = Manifest.from_data(data)
    target = ref
    if subject is not None and not ref.tag and ref.digest is None:
        target = ref.with_digest(manifest.digest)
    client.manifest_put(target, manifest)
    ctx.out.data(
        {"reference": str(target), **manifest.descriptor().to_dict()}, str(manifest.digest)
    )


# -- get ----------------------------------------------------------------------------------------
def _safe_name(title: str) -> str | None:
    """A title usable as a relative path inside the output directory, or None."""
    if not title or "\\" in title or title.startswith("/"):
        return None
    norm = posixpath.normpath(title)
    if norm in (".", "..") or norm.startswith("../"):
        return None
    return norm


def _find_referrer(client: Client, ref: Ref, artifact_type: str) -> Ref:
    """The one referrer of ``ref`` with ``artifact_type`` (several: the error lists them)."""
    from ocistore.errors import NotFoundError, OCIStoreError

    found = client.referrers(ref, artifact_type=artifact_type)
    if not found:
        raise NotFoundError(f"{ref} has no referrer of type {artifact_type}")
    if len(found) > 1:
        raise OCIStoreError(
            f"{ref} has {len(found)} referrers of type {artifact_type}: "
            + ", ".join(str(d.digest) for d in found),
            hint="fetch one by digest: ocistore artifact get REPO@DIGEST",
        )
    return ref.with_digest(found[0].digest)


def cmd_get(ctx: Context) -> None:
    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    if a.artifact_type:
        ref = _find_referrer(client, ref, a.artifact_type)
    manifest = client.manifest_get(ref)
    if manifest.is_index:
        raise UsageError(
            f"{ref} is an index, not an artifact",
            hint="name one of its manifests by digest (see 'ocistore image inspect')",
        )
    layers = list(manifest.layers)
    if not a.output:
        if len(layers) != 1:
            raise UsageError(f"{ref} has {len(layers)} files; give --output DIR to write them")
        with client.blob_get(ref, layers[0].digest, size=layers[0].size) as reader:
            out = ctx.out.binary()
            while chunk := reader.read(1024 * 1024):
                out.write(chunk)
            out.flush()
        return
    outdir = Path(a.output)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, Any]] = []
    for desc in layers:
        title = desc.annotations.get(TITLE, "")
        name = _safe_name(title)
        if name is None:
            if title:
                raise UsageError(f"refusing unsafe file name {title!r} in {ref}")
            ctx.out.note(f"skipping layer {desc.digest}: it has no {TITLE} annotation")
            continue
        path = outdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with client.blob_get(ref, desc.digest, size=desc.size) as reader:
            _write_verified(reader, path)
        written.append({"file": str(path), "digest": str(desc.digest), "size": desc.size})
    ctx.out.data(
        {"reference": str(ref), "digest": str(manifest.digest), "files": written},
        "\n".join(f"{w['file']}  {w['digest']}  {human_size(w['size'])}" for w in written),
    )


# -- list ---------------------------------------------------------------------------------------
def cmd_list(ctx: Context) -> None:
    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    found = client.referrers(ref, artifact_type=a.artifact_type)

    def text() -> str:
        if not found:
            return f"no referrers of {ref}"
        rows = [
            (
                str(d.digest),
                d.artifact_type or "-",
                human_size(d.size),
                ", ".join(f"{k}={v}" for k, v in sorted(d.annotations.items())),
            )
            for d in found
        ]
        return table(("DIGEST", "ARTIFACT TYPE", "SIZE", "ANNOTATIONS"), rows)

    ctx.out.data({"subject": str(ref), "referrers": [d.to_dict() for d in found]}, text)
