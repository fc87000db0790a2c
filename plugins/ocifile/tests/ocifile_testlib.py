"""Helpers shared by the ocifile tests: real tools, seeding layouts, reading tars back."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from ocistore.client import Client
from ocistore.digest import Digest
from ocistore.ref import Ref
from ocistore.scheme import Scheme
from ocistore.testing import content

SKOPEO = Path("/usr/bin/skopeo")
UMOCI = Path("/usr/bin/umoci")
INSTALL_HINT = "apt-get install -y skopeo umoci"


def tool(path: Path, *args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a real tool; a missing one fails the test (CI installs it), it never skips."""
    if not path.exists():
        pytest.fail(f"{path} not found: these tests need it ({INSTALL_HINT})", pytrace=False)
    extra = ["--insecure-policy"] if path == SKOPEO else []
    proc = subprocess.run(
        [str(path), *extra, *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert proc.returncode == 0, f"{path.name} {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def seed(client: Client, ref: str, image: content.Image) -> None:
    """Push ``image`` (children first) through ``client`` at ``ref``."""
    parsed = client.parse(ref)
    content.push(client.scheme(parsed), parsed, image)


def blobs_of(client: Client, ref: str, image: content.Image) -> dict[Digest, bytes]:
    """Every blob of ``image`` as read back (verified) from ``ref``'s location."""
    out = {}
    for digest in image.all_blobs():
        with client.blob_get(ref, digest) as reader:
            out[digest] = reader.read()
    return out


def write_tar(
    path: Path,
    files: dict[str, bytes],
    *,
    symlinks: dict[str, str] | None = None,
    hardlinks: dict[str, str] | None = None,
) -> Path:
    """A tar with exactly these members (names taken as given, hostile ones included)."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for kind, links in ((tarfile.SYMTYPE, symlinks), (tarfile.LNKTYPE, hardlinks)):
            for name, target in (links or {}).items():
                info = tarfile.TarInfo(name)
                info.type = kind
                info.linkname = target
                t.addfile(info)
    return path


def tar_names(path: Path) -> list[str]:
    with tarfile.open(path) as t:
        return t.getnames()


class TarTamper:
    """The conformance kit's ``tamper``: commits what the scheme holds pending, then rewrites
    the member ``blobs/<alg>/<hex>`` inside the tar in place, as disk rot would."""

    def __init__(self, scheme: Scheme) -> None:
        self._scheme = scheme

    def blob(self, ref: Ref, digest: Digest, data: bytes) -> None:
        self._scheme.close(ref)
        name = f"blobs/{digest.algorithm}/{digest.encoded}"
        with tarfile.open(ref.path) as t:
            member = t.getmember(name)
        assert member.size == len(data)
        with open(ref.path, "r+b") as f:
            f.seek(member.offset_data)
            f.write(data)

    def manifest(self, ref: Ref, digest: Digest, raw: bytes) -> None:
        self.blob(ref, digest, raw)
