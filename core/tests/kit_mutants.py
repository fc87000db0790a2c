"""Deliberately broken variants of the in-memory scheme, each breaking one contract rule, and a
runner that puts a conformance kit to them (used by test_kit_mutation.py).

A kit that passes one of these misses that rule. The first six are the variants the kit once
missed (issue 12); the rest break rules it already caught, so that a kit change that loses one
shows up too. Each variant changes as little as possible of ``MemoryScheme``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from ocistore.blob import BlobReader, RawStream
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import ManifestNotFoundError, RepositoryNotFoundError
from ocistore.manifest import Manifest
from ocistore.ref import Ref
from ocistore.scheme import SchemeInfo
from ocistore.settings import Settings
from ocistore.testing import memory
from ocistore.testing.memory import MemoryScheme

__all__ = ["MUTANTS", "run_kit"]


class LengthIgnored(MemoryScheme):
    """blob_put ignores the declared length."""

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        return super().blob_put(ref, digest, reader, None)


class TagLimitIgnored(MemoryScheme):
    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        return super().tag_list(ref, last=last)


class TagLastIgnored(MemoryScheme):
    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        return super().tag_list(ref, limit=limit)


class TagsUnsorted(MemoryScheme):
    """Tags in insertion order (what a dict or an SQL table without ORDER BY gives)."""

    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        tags = [t for t in self._repo(ref).tags if not last or t > last]
        return tags[:limit] if limit is not None else tags


class TagDeleteWrongError(MemoryScheme):
    """Deleting a missing tag raises ManifestNotFoundError (a NotFoundError, but not the one)."""

    def tag_delete(self, ref: Ref) -> None:
        if ref.tag and ref.tag not in self._repo(ref).tags:
            raise ManifestNotFoundError(f"tag {ref.tag!r} not found in {ref.location}")
        super().tag_delete(ref)


class ChildrenTagged(MemoryScheme):
    """child=True ignored: every manifest put without a tag becomes ``latest``."""

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        super().manifest_put(ref, manifest)
        if not ref.tag:
            with memory._LOCK:
                self._repo(ref).tags["latest"] = manifest.digest


class BlobReadUnverified(MemoryScheme):
    """blob_get hands out a reader that checks nothing."""

    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        reader = super().blob_get(ref, digest, size=size)
        return BlobReader(reader._raw, digest=None, size=None)


class BlobReadTrustsStorage(MemoryScheme):
    """blob_get verifies against the digest of what is stored, not the one asked for."""

    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        reader = super().blob_get(ref, digest, size=size)
        data = self._repo(ref).blobs[digest]
        return BlobReader(reader._raw, digest=Digest.from_bytes(data), size=size)


class BlobReadSizeIgnored(MemoryScheme):
    def blob_get(self, ref: Ref, digest: Digest, *, size: int | None = None) -> BlobReader:
        return super().blob_get(ref, digest)


class ManifestReadUnverified(MemoryScheme):
    """manifest_get parses the stored bytes without checking them against the digest."""

    def _resolve(self, ref: Ref) -> Manifest:
        repo = self._repo(ref)
        digest = ref.digest or repo.tags.get(ref.tag or "latest")
        if digest is None or digest not in repo.manifests:
            raise ManifestNotFoundError(f"manifest {ref.reference} not found in {ref.location}")
        raw, media_type = repo.manifests[digest]
        return Manifest.from_bytes(raw, media_type=media_type)


class FirstUseRaces(MemoryScheme):
    """Creates its store on first use, check-then-set and outside the lock (as a scheme that
    creates a database or directory on first write would): racing first writes lose data."""

    def _open(self, ref: Ref) -> None:
        if ref.path not in memory._STORES:
            time.sleep(0.002)  # the window a database or directory creation has
            memory._STORES[ref.path] = memory._Repo()

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        self._open(ref)
        return super().blob_put(ref, digest, reader, length)

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        self._open(ref)
        super().manifest_put(ref, manifest, child=child)


class SameBlobInterleaves(MemoryScheme):
    """Writes a blob in place as it arrives: two puts of one blob interleave their bytes."""

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        if digest is None:
            return super().blob_put(ref, digest, reader, length)
        data = reader.read()
        with memory._LOCK:
            blobs = self._repo(ref, create=True).blobs
            blobs[digest] = b""
        for i in range(0, len(data), 65536):
            time.sleep(0.0005)
            blobs[digest] = blobs[digest] + data[i : i + 65536]
        return digest, len(data)


class BadDigestStored(MemoryScheme):
    """Stores the blob before checking its digest."""

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        data = reader.read()
        with memory._LOCK:
            self._repo(ref, create=True).blobs[digest or Digest.from_bytes(data)] = data
        return super().blob_put(ref, digest, io.BytesIO(data), length)


class MissingBlobKeyError(MemoryScheme):
    def blob_head(self, ref: Ref, digest: Digest) -> Descriptor:
        data = self._repo(ref).blobs[digest]
        return Descriptor("application/octet-stream", digest, len(data))


class MissingManifestWrongError(MemoryScheme):
    """A missing manifest by digest is reported as a missing repository."""

    def _resolve(self, ref: Ref) -> Manifest:
        if ref.digest is not None and ref.digest not in self._repo(ref).manifests:
            raise RepositoryNotFoundError(f"{ref} not found")
        return super()._resolve(ref)


class MissingRepoEmptyTags(MemoryScheme):
    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        if ref.path not in memory._STORES:
            return []
        return super().tag_list(ref, limit=limit, last=last)


class NegativeLimitAccepted(MemoryScheme):
    def tag_list(self, ref: Ref, *, limit: int | None = None, last: str | None = None) -> list[str]:
        tags = super().tag_list(ref, last=last)
        return tags[:limit] if limit is not None else tags


class OptionsIgnored(MemoryScheme):
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings


class DeletedManifestKeepsTags(MemoryScheme):
    def manifest_delete(self, ref: Ref) -> None:
        repo = self._repo(ref)
        kept = dict(repo.tags)
        super().manifest_delete(ref)
        repo.tags.update({t: d for t, d in kept.items() if d == ref.digest})


class TagDeleteDropsManifest(MemoryScheme):
    def tag_delete(self, ref: Ref) -> None:
        digest = self._repo(ref).tags.get(ref.tag)
        super().tag_delete(ref)
        if digest is not None:
            self._repo(ref).manifests.pop(digest, None)


class DeleteUndeclared(MemoryScheme):
    """info() says blob_delete is not supported, but the method still deletes."""

    def info(self) -> SchemeInfo:
        return SchemeInfo(blob_mount=True, referrers_api=True, tag_delete=True, repo_list=True)


class ReferrersUnfiltered(MemoryScheme):
    def referrers(
        self, ref: Ref, digest: Digest, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        return super().referrers(ref, digest)


class ManifestReserialised(MemoryScheme):
    """Stores a re-serialised manifest (pretty JSON) instead of the exact bytes."""

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        import json

        pretty = Manifest.from_bytes(json.dumps(manifest.data, indent=2).encode())
        super().manifest_put(ref.bare() if ref.digest else ref, pretty, child=child)


class NoDefaultTag(MemoryScheme):
    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        super().manifest_put(ref, manifest, child=child or not ref.tag)


class ManifestDigestUnchecked(MemoryScheme):
    """A put by digest stores whatever it is given."""

    def manifest_put(self, ref: Ref, manifest: Manifest, *, child: bool = False) -> None:
        super().manifest_put(ref.bare() if ref.digest else ref, manifest, child=True)


MUTANTS: dict[str, type[MemoryScheme]] = {
    cls.__name__: cls
    for cls in (
        LengthIgnored,
        TagLimitIgnored,
        TagLastIgnored,
        TagsUnsorted,
        TagDeleteWrongError,
        ChildrenTagged,
        BlobReadUnverified,
        BlobReadTrustsStorage,
        BlobReadSizeIgnored,
        ManifestReadUnverified,
        FirstUseRaces,
        SameBlobInterleaves,
        BadDigestStored,
        MissingBlobKeyError,
        MissingManifestWrongError,
        MissingRepoEmptyTags,
        NegativeLimitAccepted,
        OptionsIgnored,
        DeletedManifestKeepsTags,
        TagDeleteDropsManifest,
        DeleteUndeclared,
        ReferrersUnfiltered,
        ManifestReserialised,
        NoDefaultTag,
        ManifestDigestUnchecked,
    )
}

_TARGET = """
import itertools

import pytest

from {kit} import SchemeConformance
from ocistore.settings import Settings
from ocistore.testing.memory import MemoryScheme, MemoryTamper, parse
import kit_mutants


def _kit_for(cls):
    class Kit(SchemeConformance):
        @pytest.fixture
        def scheme_factory(self):
            MemoryScheme.reset()
            yield cls
            MemoryScheme.reset()

        @pytest.fixture
        def scheme(self, scheme_factory):
            return scheme_factory(Settings())

        @pytest.fixture
        def new_repo(self):
            counter = itertools.count()
            return lambda: parse(f"memory://repo{{next(counter)}}")

        @pytest.fixture
        def tamper(self):
            return MemoryTamper()

    return Kit


TestCorrect = _kit_for(MemoryScheme)
for _name, _cls in kit_mutants.MUTANTS.items():
    globals()[f"Test{{_name}}"] = _kit_for(_cls)
"""


def run_kit(
    tmp: Path, *, kit: str = "ocistore.testing.conformance", extra_path: str = ""
) -> dict[str, tuple[int, int]]:
    """Run ``kit`` against the correct scheme and every mutant in one pytest subprocess.

    Returns ``{"Correct" or mutant name: (tests run, tests failed or errored)}``.
    """
    (tmp / "test_kit_target.py").write_text(textwrap.dedent(_TARGET.format(kit=kit)))
    (tmp / "pytest.ini").write_text("[pytest]\n")
    report = tmp / "report.xml"
    env = dict(os.environ)
    here = str(Path(__file__).parent)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (here, extra_path, env.get("PYTHONPATH", "")) if p
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(tmp / "pytest.ini"),
            "--rootdir",
            str(tmp),
            f"--junitxml={report}",
            str(tmp / "test_kit_target.py"),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        check=False,
        timeout=600,
    )
    counts: dict[str, list[int]] = {}
    for case in ET.parse(report).iter("testcase"):
        name = case.get("classname", "").rsplit(".", 1)[-1].removeprefix("Test")
        entry = counts.setdefault(name, [0, 0])
        entry[0] += 1
        if case.find("failure") is not None or case.find("error") is not None:
            entry[1] += 1
    return {name: (run, failed) for name, (run, failed) in counts.items()}
