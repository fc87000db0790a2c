"""Client certificates (mutual TLS) through the reg scheme, against the real registry.

``registry_mtls`` is the TLS registry with ``http.tls.clientcas`` set to a client CA the harness
generated, so distribution refuses any connection without a certificate from that CA (not even
``GET /v2/`` answers). ``HostConfig.client_cert``/``client_key`` reach requests' ``cert=``
through :func:`ocistore_reg.http.tls_options`; these tests show that path works end to end and
that a refusal surfaces as a readable :class:`TransportError`.

There is no command-line flag for client certificates yet, so these tests use the scheme API.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ocistore.digest import Digest
from ocistore.errors import OCIStoreError, StorageError, TransportError
from ocistore.ref import Ref
from ocistore.settings import HostConfig, Settings
from ocistore.testing.content import oci_image, push, random_bytes
from ocistore_reg.plugin import parse
from ocistore_reg.scheme import Reg
from tests.support import pki
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry


def _client(registry: RunningRegistry) -> pki.ClientTLS:
    assert registry.client_tls is not None
    return registry.client_tls


def _reg(registry: RunningRegistry, **tls: Any) -> Reg:
    """A Reg verifying the registry with its CA; ``tls`` adds client_cert/client_key."""
    assert registry.ca_file is not None
    config = HostConfig(registry.host, tls="enabled", ca_file=str(registry.ca_file), **tls)
    return Reg(Settings(hosts={registry.host: config}, docker_config=False))


def _with_cert(registry: RunningRegistry, **host: Any) -> Reg:
    client = _client(registry)
    return _reg(
        registry, client_cert=str(client.cert_file), client_key=str(client.key_file), **host
    )


def _repo(registry: RunningRegistry) -> Ref:
    return parse(f"{registry.host}/mtls/repo-{uuid.uuid4().hex[:10]}")


def _put(reg: Reg, ref: Ref, data: bytes) -> Digest:
    digest, size = reg.blob_put(ref, Digest.from_bytes(data), io.BytesIO(data), len(data))
    assert size == len(data)
    return digest


def _assert_readable_tls_refusal(error: TransportError, registry: RunningRegistry) -> None:
    """Says TLS, names the host and the certificate, without the urllib3 wrapper noise."""
    message = str(error)
    assert registry.host in message
    # A TLS 1.3 refusal may arrive as a bare EOF on the first read: then the hint says it.
    said = f"{message} {error.hint or ''}"
    assert "TLS" in said
    assert "certificate" in said.lower()
    for noise in ("HTTPSConnectionPool", "Max retries", "Caused by", "Traceback"):
        assert noise not in message
    assert "\n" not in message
    assert len(message) < 400


# -- with the client certificate -------------------------------------------------------------


def test_blob_push_and_pull_with_a_client_certificate(registry_mtls: RunningRegistry) -> None:
    reg, ref = _with_cert(registry_mtls), _repo(registry_mtls)
    data = random_bytes(300_000, "mtls-blob")
    digest = _put(reg, ref, data)
    assert reg.blob_head(ref, digest).size == len(data)
    with reg.blob_get(ref, digest) as reader:
        assert reader.read() == data


def test_chunked_upload_with_a_client_certificate(registry_mtls: RunningRegistry) -> None:
    """PATCH after PATCH: every request of an upload session presents the certificate."""
    reg = _with_cert(registry_mtls, blob_max=0, blob_chunk=64 * 1024)
    ref = _repo(registry_mtls)
    data = random_bytes(200_000 + 7, "mtls-chunked")
    digest = _put(reg, ref, data)
    with reg.blob_get(ref, digest, size=len(data)) as reader:
        assert reader.read() == data


def test_manifest_push_and_pull_with_a_client_certificate(
    registry_mtls: RunningRegistry,
) -> None:
    reg, repo = _with_cert(registry_mtls), _repo(registry_mtls)
    image = oci_image("mtls-image")
    push(reg, repo.with_tag("v1"), image)
    assert reg.manifest_get(repo.with_tag("v1")).raw == image.manifest.raw
    assert reg.manifest_get(repo.with_digest(image.digest)).raw == image.manifest.raw
    assert reg.manifest_head(repo.with_tag("v1")).digest == image.digest
    assert reg.tag_list(repo) == ["v1"]


def test_certificate_and_key_in_one_file(registry_mtls: RunningRegistry) -> None:
    """``client_cert`` alone may name a PEM holding both the certificate and its key."""
    client = _client(registry_mtls)
    reg, repo = _reg(registry_mtls, client_cert=str(client.combined_file)), _repo(registry_mtls)
    image = oci_image("mtls-combined")
    push(reg, repo.with_tag("v1"), image)
    assert reg.manifest_get(repo.with_tag("v1")).raw == image.manifest.raw


# -- without it ------------------------------------------------------------------------------


def test_without_a_client_certificate_every_operation_fails_clearly(
    registry_mtls: RunningRegistry,
) -> None:
    reg, repo = _reg(registry_mtls), _repo(registry_mtls)
    data = b"never sent"
    attempts: list[Callable[[], object]] = [
        lambda: reg.ping(repo),
        lambda: _put(reg, repo, data),
        lambda: reg.manifest_get(repo.with_tag("v1")),
    ]
    for attempt in attempts:
        with pytest.raises(TransportError) as info:
            attempt()
        _assert_readable_tls_refusal(info.value, registry_mtls)
    # The operation is named too, so a failed copy says which step it was.
    with pytest.raises(TransportError, match=r"^upload blob sha256:"):
        _put(reg, repo, data)


def test_a_certificate_from_another_ca_is_refused(
    registry_mtls: RunningRegistry, tmp_path: Path
) -> None:
    stranger = pki.write_client_tls(tmp_path / "stranger", "not the registry's client")
    reg = _reg(
        registry_mtls, client_cert=str(stranger.cert_file), client_key=str(stranger.key_file)
    )
    with pytest.raises(TransportError) as info:
        reg.manifest_get(_repo(registry_mtls).with_tag("v1"))
    _assert_readable_tls_refusal(info.value, registry_mtls)


def test_a_key_without_its_certificate_is_refused_up_front(registry_mtls: RunningRegistry) -> None:
    """requests would silently send no certificate for a lone ``client_key``: say so instead."""
    reg = _reg(registry_mtls, client_key=str(_client(registry_mtls).key_file))
    with pytest.raises(StorageError, match=r"client_key .* without client_cert"):
        reg.ping(_repo(registry_mtls))


# -- hints and local file problems -------------------------------------------------------------


def test_the_hint_for_a_refused_connection_mentions_the_client_certificate(
    registry_mtls: RunningRegistry,
) -> None:
    with pytest.raises(TransportError) as info:
        _reg(registry_mtls).ping(_repo(registry_mtls))
    assert info.value.hint is not None
    assert "client" in info.value.hint.lower()


def test_a_missing_client_certificate_file_is_an_ocistore_error(
    registry_mtls: RunningRegistry, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-client.pem"
    reg = _reg(
        registry_mtls, client_cert=str(missing), client_key=str(_client(registry_mtls).key_file)
    )
    with pytest.raises(OCIStoreError) as info:
        reg.ping(_repo(registry_mtls))
    assert str(missing) in str(info.value)
