"""Blob rules: exact round trips, declared digest *and* length enforced, reads that verify,
and the error type for each missing thing."""

from __future__ import annotations

import io

import pytest

from ocistore.blob import BlobReader
from ocistore.digest import Digest
from ocistore.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    MountRefusedError,
    NotFoundError,
    UnsupportedError,
    VerificationError,
)
from ocistore.ref import Ref
from ocistore.scheme import Scheme
from ocistore.testing.conformance.fixtures import (
    NewRepo,
    SchemeFixtures,
    Tamper,
    flip,
    need,
    put_blob,
)
from ocistore.testing.content import random_bytes

__all__ = ["BlobTests"]


def _read_all(scheme: Scheme, ref: Ref, digest: Digest, size: int | None = None) -> bytes:
    """The whole blob; a scheme may raise when asked or at end of stream, both count."""
    with scheme.blob_get(ref, digest, size=size) as reader:
        return reader.read()


class BlobTests(SchemeFixtures):
    def test_blob_round_trip_is_exact(self, scheme: Scheme, repo: Ref) -> None:
        data = random_bytes(3 * 1024 * 1024 + 17, "round-trip")
        digest = put_blob(scheme, repo, data)
        assert scheme.blob_head(repo, digest).size == len(data)
        assert scheme.blob_head(repo, digest).digest == digest
        with scheme.blob_get(repo, digest) as reader:
            assert reader.read() == data
            assert reader.digest == digest

    def test_blob_put_without_digest_or_length_computes_them(
        self, scheme: Scheme, repo: Ref
    ) -> None:
        data = random_bytes(70_000, "unknown")
        digest, size = scheme.blob_put(repo, None, io.BytesIO(data), None)
        assert (digest, size) == (Digest.from_bytes(data), len(data))
        with scheme.blob_get(repo, digest) as reader:
            assert reader.read() == data

    def test_empty_blob_round_trip(self, scheme: Scheme, repo: Ref) -> None:
        digest = put_blob(scheme, repo, b"")
        assert scheme.blob_head(repo, digest).size == 0
        with scheme.blob_get(repo, digest) as reader:
            assert reader.read() == b""

    def test_blob_put_with_wrong_digest_is_rejected_and_not_stored(
        self, scheme: Scheme, repo: Ref
    ) -> None:
        data = random_bytes(4096, "claimed")
        wrong = Digest.from_bytes(b"something else")
        with pytest.raises(DigestMismatchError):
            scheme.blob_put(repo, wrong, io.BytesIO(data), len(data))
        put_blob(scheme, repo, b"other")  # the repository exists; the bad blob must not
        with pytest.raises(BlobNotFoundError):
            scheme.blob_head(repo, wrong)
        with pytest.raises(BlobNotFoundError):
            scheme.blob_head(repo, Digest.from_bytes(data))

    @pytest.mark.parametrize("declared", [-1, +1], ids=["fewer-bytes", "more-bytes"])
    @pytest.mark.parametrize("with_digest", [True, False], ids=["digest", "no-digest"])
    def test_blob_put_with_wrong_length_is_rejected_and_not_stored(
        self, scheme: Scheme, repo: Ref, declared: int, with_digest: bool
    ) -> None:
        """The declared length is a promise like the digest: a stream that is shorter or longer
        is refused (``VerificationError``) and leaves nothing behind."""
        data = random_bytes(5000, f"length-{declared}-{with_digest}")
        digest = Digest.from_bytes(data) if with_digest else None
        put_blob(scheme, repo, b"repository exists")
        with pytest.raises(VerificationError):
            scheme.blob_put(repo, digest, io.BytesIO(data), len(data) + declared)
        with pytest.raises(BlobNotFoundError):
            scheme.blob_head(repo, Digest.from_bytes(data))

    def test_blob_get_returns_a_verifying_reader(self, scheme: Scheme, repo: Ref) -> None:
        digest = put_blob(scheme, repo, b"verified on read")
        with scheme.blob_get(repo, digest) as reader:
            assert isinstance(reader, BlobReader)
            assert reader.enforced_digest == digest

    @pytest.mark.parametrize("delta", [-1, +1], ids=["shorter", "longer"])
    def test_blob_get_checks_the_expected_size(self, scheme: Scheme, repo: Ref, delta: int) -> None:
        """``size`` (from a descriptor) is checked: a blob of another size fails the read."""
        data = random_bytes(3000, "sized")
        digest = put_blob(scheme, repo, data)
        with pytest.raises(VerificationError):
            _read_all(scheme, repo, digest, size=len(data) + delta)
        with scheme.blob_get(repo, digest, size=len(data)) as reader:
            assert reader.read() == data

    def test_blob_get_verifies_what_was_stored(
        self, scheme: Scheme, repo: Ref, tamper: Tamper | None
    ) -> None:
        """Storage can rot or be edited: a read of changed bytes fails instead of returning
        them, with or without a size to check."""
        tampering = need(tamper, "tamper", "that blob reads verify their content")
        data = random_bytes(20_000, "rot")
        digest = put_blob(scheme, repo, data)
        tampering.blob(repo, digest, flip(data))
        for size in (None, len(data)):
            with pytest.raises(DigestMismatchError):
                _read_all(scheme, repo, digest, size=size)

    def test_missing_blob_is_blob_not_found_naming_the_digest(
        self, scheme: Scheme, repo: Ref
    ) -> None:
        put_blob(scheme, repo, b"present")
        missing = Digest.from_bytes(b"absent")
        with pytest.raises(BlobNotFoundError, match=missing.encoded[:12]):
            scheme.blob_head(repo, missing)
        with pytest.raises(BlobNotFoundError, match=missing.encoded[:12]):
            _read_all(scheme, repo, missing)

    def test_blob_in_a_missing_repository_is_not_found(
        self, scheme: Scheme, missing_repo: Ref
    ) -> None:
        never = missing_repo
        missing = Digest.from_bytes(b"nowhere")
        with pytest.raises(NotFoundError):
            scheme.blob_head(never, missing)
        with pytest.raises(NotFoundError), scheme.blob_get(never, missing) as reader:
            reader.read()

    def test_blob_delete(self, scheme: Scheme, repo: Ref) -> None:
        digest = put_blob(scheme, repo, b"to delete")
        if not scheme.info().blob_delete:
            with pytest.raises(UnsupportedError):
                scheme.blob_delete(repo, digest)
            return
        scheme.blob_delete(repo, digest)
        with pytest.raises(BlobNotFoundError):
            scheme.blob_head(repo, digest)
        with pytest.raises(BlobNotFoundError):
            scheme.blob_delete(repo, digest)

    def test_blob_mount_between_repositories(self, scheme: Scheme, new_repo: NewRepo) -> None:
        source, target = new_repo(), new_repo()
        data = random_bytes(10_000, "mount")
        digest = put_blob(scheme, source, data)
        put_blob(scheme, target, b"target exists")
        if not scheme.info().blob_mount:
            with pytest.raises(UnsupportedError):
                scheme.blob_mount(source, target, digest)
            return
        scheme.blob_mount(source, target, digest)
        with scheme.blob_get(target, digest) as reader:
            assert reader.read() == data
        absent = Digest.from_bytes(b"never stored")
        with pytest.raises((BlobNotFoundError, MountRefusedError)):
            scheme.blob_mount(source, target, absent)
        with pytest.raises(BlobNotFoundError):
            scheme.blob_head(target, absent)
