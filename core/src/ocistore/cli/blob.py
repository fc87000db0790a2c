"""``ocistore blob``: get, head, put, delete and copy single blobs, always verified.

Handlers only; the arguments are in :mod:`ocistore.cli.commands`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ocistore.cli.output import human_size

if TYPE_CHECKING:
    from ocistore.blob import BlobReader
    from ocistore.cli.context import Context

__all__ = ["cmd_copy", "cmd_delete", "cmd_get", "cmd_head", "cmd_put"]


def cmd_get(ctx: Context) -> None:
    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    with client.blob_get(ref, a.digest) as reader:
        if not a.output or a.output == "-":
            shutil.copyfileobj(reader, ctx.out.binary(), 1024 * 1024)
            reader.verify_to_end()
            ctx.out.binary().flush()
            return
        _write_verified(reader, Path(a.output))


def _write_verified(reader: BlobReader, path: Path) -> None:
    """Write through a temporary file so a failed verification leaves nothing behind."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(reader, f, 1024 * 1024)
            reader.verify_to_end()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def cmd_head(ctx: Context) -> None:
    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    desc = client.blob_head(ref, a.digest)
    ctx.out.data(
        {"reference": str(ref), "digest": str(desc.digest), "size": desc.size},
        f"{desc.digest} {desc.size} bytes ({human_size(desc.size)})",
    )


def cmd_put(ctx: Context) -> None:
    a = ctx.args
    client, (ref,) = ctx.open(a.ref, gc=False)
    if a.file == "-":
        digest, size = client.blob_put(ref, ctx.stdin("blob put"), digest=a.digest)
    else:
        path = Path(a.file)
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            length = st.st_size if stat.S_ISREG(st.st_mode) else None
            digest, size = client.blob_put(ref, f, digest=a.digest, length=length)
    ctx.out.data({"reference": str(ref), "digest": str(digest), "size": size}, str(digest))


def cmd_delete(ctx: Context) -> None:
    a = ctx.args
    client, (ref,) = ctx.open(a.ref)
    client.blob_delete(ref, a.digest)
    ctx.out.data(
        {"reference": str(ref), "deleted": str(a.digest)}, f"deleted {a.digest} from {ref}"
    )


def cmd_copy(ctx: Context) -> None:
    a = ctx.args
    client, (src, dst) = ctx.open(a.source, a.target, gc=False)
    client.blob_copy(src, dst, a.digest)
    ctx.out.data(
        {"source": str(src), "target": str(dst), "digest": str(a.digest)},
        f"copied {a.digest} {src} -> {dst}",
    )
