"""``ocistore blob``: get, head, put, delete and copy single blobs, always verified."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ocistore.cli.output import human_size
from ocistore.cli.parser import Subparsers, action, group

if TYPE_CHECKING:
    from ocistore.blob import BlobReader
    from ocistore.cli.context import Context
    from ocistore.digest import Digest

__all__ = ["register"]


def _digest(text: str) -> Digest:
    """argparse ``type=``: a malformed digest is a usage error."""
    import argparse

    from ocistore.digest import Digest
    from ocistore.errors import InvalidDigestError

    try:
        return Digest.parse(text)
    except InvalidDigestError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(verbs: Subparsers) -> None:
    sub = group(verbs, "blob", "read and write single blobs", aliases=("layer",))

    p = action(sub, "get", cmd_get, "write a blob to stdout or a file (verified)")
    p.add_argument("ref", metavar="REF", help="repository holding the blob")
    p.add_argument("digest", metavar="DIGEST", type=_digest)
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    p = action(sub, "head", cmd_head, "show whether a blob exists, and its size")
    p.add_argument("ref", metavar="REF")
    p.add_argument("digest", metavar="DIGEST", type=_digest)

    p = action(sub, "put", cmd_put, "store a blob read from FILE or stdin; prints its digest")
    p.add_argument("ref", metavar="REF", help="repository to store into")
    p.add_argument("file", metavar="FILE", nargs="?", default="-", help="default: stdin")
    p.add_argument("--digest", type=_digest, metavar="DIGEST", help="expected digest (verified)")

    p = action(sub, "delete", cmd_delete, "delete a blob", aliases=("rm",))
    p.add_argument("ref", metavar="REF")
    p.add_argument("digest", metavar="DIGEST", type=_digest)

    p = action(sub, "copy", cmd_copy, "copy one blob between repositories", aliases=("cp",))
    p.add_argument("source", metavar="SRC")
    p.add_argument("target", metavar="DST")
    p.add_argument("digest", metavar="DIGEST", type=_digest)


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
