"""Image archives: OCI layout tars (export and import) and ``docker save`` tars (import).

These work through a :class:`~ocistore.client.Client`, so any scheme can be the source of an
export or the target of an import.

* :func:`export_oci` writes an OCI image layout as a tar stream (a file or stdout).
* :func:`import_archive` reads an OCI layout tar, or a docker-save tar (``manifest.json``), and
  pushes the selected image. A tar holding both (Docker 25+ writes both) is read as OCI, which
  keeps the original digests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from ocistore.archive.docker import import_docker
from ocistore.archive.export import ExportResult, export_oci
from ocistore.archive.oci import import_oci
from ocistore.archive.result import ImportResult
from ocistore.archive.tarutil import TarMembers
from ocistore.errors import LayoutError

if TYPE_CHECKING:
    from ocistore.client import Client
    from ocistore.ref import Ref

__all__ = ["ExportResult", "ImportResult", "export_oci", "import_archive"]

#: Stdin is spooled to memory up to this size, then to a temporary file (tar needs seeking).
_SPOOL_MEMORY = 32 * 1024 * 1024


@contextlib.contextmanager
def _seekable(source: str | os.PathLike[str] | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as f:
            yield f
        return
    if source.seekable():
        yield source
        return
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY) as spool:
        shutil.copyfileobj(source, spool, 1024 * 1024)
        spool.seek(0)
        yield spool


def import_archive(
    client: Client,
    target: Ref | str,
    source: str | os.PathLike[str] | IO[bytes],
    *,
    name: str | None = None,
) -> ImportResult:
    """Import one image from the archive at ``source`` (a path or a binary stream) to ``target``.

    :param name: which image of a multi-image archive (a tag, full name, or digest).
    """
    ref = client.parse(target)
    what = str(source) if isinstance(source, str | os.PathLike) else "archive"
    with _seekable(source) as f:
        try:
            with tarfile.open(fileobj=f, mode="r:*") as tar:
                members = TarMembers(tar, what)
                if "index.json" in members and "oci-layout" in members:
                    return import_oci(client, ref, members, name=name)
                if "manifest.json" in members:
                    return import_docker(client, ref, members, name=name)
        except (tarfile.TarError, EOFError) as e:
            raise LayoutError(f"{what}: not a readable tar archive: {e}") from None
    raise LayoutError(
        f"{what} is neither an OCI layout tar (oci-layout and index.json) nor a docker-save tar "
        "(manifest.json)"
    )
