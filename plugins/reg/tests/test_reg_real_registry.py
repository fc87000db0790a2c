"""The reg scheme against the real CNCF distribution registry (Debian ``docker-registry`` 2.8).

Every test uses fresh repository names, so the session-scoped registries can be shared. The real
authenticator and credential plumbing are used (explicit host credentials; docker's config is
switched off so a developer's own logins cannot leak in).
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ocistore import mediatype as mt
from ocistore.digest import EMPTY_DIGEST, Digest
from ocistore.errors import (
    BlobNotFoundError,
    ManifestNotFoundError,
    RegistryError,
    TransportError,
    UnauthorizedError,
)
from ocistore.ref import Ref
from ocistore.settings import HostConfig, Settings
from ocistore.testing.content import (
    Image,
    artifact,
    docker_image,
    docker_list,
    index_of,
    oci_image,
    push,
    random_bytes,
)
from ocistore_reg.plugin import parse
from ocistore_reg.scheme import Reg
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.registry


def _reg(registry: RunningRegistry, **host: Any) -> Reg:
    tls = "enabled" if registry.variant == "tls" else "disabled"
    config = HostConfig(registry.host, tls=host.pop("tls", tls), **host)
    return Reg(Settings(docker_config=False).with_host(config))


def _repo(registry: RunningRegistry, name: str = "repo") -> Ref:
    return parse(f"{registry.host}/test/{name}-{uuid.uuid4().hex[:10]}")


def _put(reg: Reg, ref: Ref, data: bytes) -> Digest:
    digest, size = reg.blob_put(ref, Digest.from_bytes(data), io.BytesIO(data), len(data))
    assert size == len(data)
    return digest


# -- blobs --------------------------------------------------------------------------------------


def test_blob_round_trip_monolithic(registry_anon: RunningRegistry) -> None:
    reg, ref = _reg(registry_anon), _repo(registry_anon)
    data = random_bytes(3 * 1024 * 1024 + 17, "mono")
    digest = _put(reg, ref, data)
    assert reg.blob_head(ref, digest).size == len(data)
    with reg.blob_get(ref, digest) as reader:
        assert reader.read() == data


def test_blob_round_trip_chunked(registry_anon: RunningRegistry) -> None:
    reg, ref = _reg(registry_anon, blob_max=0, blob_chunk=256 * 1024), _repo(registry_anon)
    data = random_bytes(1024 * 1024 + 3, "chunked")
    digest = _put(reg, ref, data)
    with reg.blob_get(ref, digest, size=len(data)) as reader:
        assert reader.read() == data


def test_blob_of_unknown_size_and_digest(registry_anon: RunningRegistry) -> None:
    reg, ref = _reg(registry_anon, blob_chunk=100_000), _repo(registry_anon)
    data = random_bytes(250_000, "unknown")
    assert reg.blob_put(ref, None, io.BytesIO(data), None) == (Digest.from_bytes(data), len(data))
    with reg.blob_get(ref, Digest.from_bytes(data)) as reader:
        assert reader.read() == data


def test_empty_blob(registry_anon: RunningRegistry) -> None:
    reg, ref = _reg(registry_anon), _repo(registry_anon)
    assert _put(reg, ref, b"") == EMPTY_DIGEST
    assert reg.blob_head(ref, EMPTY_DIGEST).size == 0


def test_mount_between_repositories(registry_anon: RunningRegistry) -> None:
    reg = _reg(registry_anon)
    source, target = _repo(registry_anon, "src"), _repo(registry_anon, "dst")
    digest = _put(reg, source, random_bytes(10_000, "mount"))
    reg.blob_mount(source, target, digest)
    assert reg.blob_head(target, digest).size == 10_000


def test_blob_delete(registry_anon: RunningRegistry) -> None:
    reg, ref = _reg(registry_anon), _repo(registry_anon)
    digest = _put(reg, ref, b"delete me")
    reg.blob_delete(ref, digest)
    with pytest.raises(BlobNotFoundError, match=digest.encoded[:12]):
        reg.blob_head(ref, digest)


def test_concurrent_uploads_share_one_session_safely(registry_anon: RunningRegistry) -> None:
    reg, ref = _reg(registry_anon, concurrency=4), _repo(registry_anon)
    blobs = [random_bytes(300_000 + i, f"par{i}") for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        digests = list(pool.map(lambda b: _put(reg, ref, b), blobs))
    for digest, data in zip(digests, blobs, strict=True):
        with reg.blob_get(ref, digest) as reader:
            assert reader.read() == data


# -- manifests ----------------------------------------------------------------------------------

IMAGES = {
    "oci-image": lambda: oci_image("real-oci"),
    "docker-image": lambda: docker_image("real-docker"),
    "oci-index": lambda: index_of(
        [oci_image("ra", platform="linux/amd64"), oci_image("rb", platform="linux/arm64")]
    ),
    "docker-list": lambda: docker_list(
        [docker_image("rc", platform="linux/amd64"), docker_image("rd", platform="linux/arm/v7")]
    ),
}


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_manifests_round_trip_byte_exact(registry_anon: RunningRegistry, kind: str) -> None:
    reg, repo = _reg(registry_anon), _repo(registry_anon, kind)
    image: Image = IMAGES[kind]()
    push(reg, repo.with_tag("v1"), image)
    got = reg.manifest_get(repo.with_tag("v1"))
    assert got.raw == image.manifest.raw
    assert got.media_type == image.manifest.media_type
    assert reg.manifest_get(repo.with_digest(image.digest)).raw == image.manifest.raw
    head = reg.manifest_head(repo.with_tag("v1"))
    assert (head.media_type, head.digest, head.size) == (
        image.manifest.media_type,
        image.digest,
        image.manifest.size,
    )
    for child in image.children:
        assert reg.manifest_get(repo.with_digest(child.digest)).raw == child.manifest.raw


def test_manifest_delete_removes_digest_and_tags(registry_anon: RunningRegistry) -> None:
    reg, repo = _reg(registry_anon), _repo(registry_anon)
    image = oci_image("del")
    push(reg, repo.with_tag("a"), image)
    reg.manifest_put(repo.with_tag("b"), image.manifest)
    reg.manifest_delete(repo.with_digest(image.digest))
    for ref in (repo.with_tag("a"), repo.with_tag("b"), repo.with_digest(image.digest)):
        with pytest.raises(ManifestNotFoundError):
            reg.manifest_head(ref)


# -- tags, catalog, referrers -------------------------------------------------------------------


def test_tag_list_and_tag_delete_via_the_dummy_fallback(registry_anon: RunningRegistry) -> None:
    reg, repo = _reg(registry_anon), _repo(registry_anon)
    image = docker_image("tags")
    push(reg, repo.with_tag("one"), image)
    for tag in ("three", "two", "four"):
        reg.manifest_put(repo.with_tag(tag), image.manifest)
    assert reg.tag_list(repo) == ["four", "one", "three", "two"]
    assert reg.tag_list(repo, limit=2) == ["four", "one"]
    assert reg.tag_list(repo, last="one") == ["three", "two"]
    reg.tag_delete(repo.with_tag("two"))
    assert reg.tag_list(repo) == ["four", "one", "three"]
    assert reg.manifest_get(repo.with_tag("one")).raw == image.manifest.raw


def test_catalog_lists_repositories(registry_anon: RunningRegistry) -> None:
    reg = _reg(registry_anon)
    repos = [_repo(registry_anon, f"cat{i}") for i in range(3)]
    for repo in repos:
        _put(reg, repo, b"x")
    listed = reg.repo_list(repos[0])
    assert {r.repository for r in repos} <= set(listed)
    assert reg.repo_list(repos[0], limit=1) == listed[:1]


def test_referrers_via_the_fallback_tag(registry_anon: RunningRegistry) -> None:
    reg, repo = _reg(registry_anon), _repo(registry_anon)
    subject = oci_image("subj")
    push(reg, repo.with_tag("v1"), subject)
    sbom = artifact(subject.manifest.descriptor(), annotations={"k": "v"})
    sig = artifact(subject.manifest.descriptor(), artifact_type="application/x-sig", payload=b"s")
    for art in (sbom, sig):
        push(reg, repo.with_digest(art.digest), art, child=True)
    found = reg.referrers(repo, subject.digest)
    assert [d.digest for d in found] == [sbom.digest, sig.digest]
    assert found[0].annotations == {"k": "v"}
    only = reg.referrers(repo, subject.digest, artifact_type="application/x-sig")
    assert [d.digest for d in only] == [sig.digest]
    assert subject.digest.referrers_tag in reg.tag_list(repo)
    reg.manifest_delete(repo.with_digest(sbom.digest))
    assert [d.digest for d in reg.referrers(repo, subject.digest)] == [sig.digest]
    reg.manifest_delete(repo.with_digest(sig.digest))
    assert reg.referrers(repo, subject.digest) == []
    assert reg.tag_list(repo) == ["v1"]


# -- auth and TLS -------------------------------------------------------------------------------


def test_basic_auth(registry_basic: RunningRegistry) -> None:
    good = _reg(registry_basic, username=registry_basic.username, password=registry_basic.password)
    repo = _repo(registry_basic)
    image = oci_image("basic")
    push(good, repo.with_tag("v1"), image)
    assert good.manifest_get(repo.with_tag("v1")).raw == image.manifest.raw
    with pytest.raises(UnauthorizedError):
        _reg(registry_basic, username=registry_basic.username, password="wrong").ping(repo)
    with pytest.raises(UnauthorizedError):
        _reg(registry_basic).manifest_get(repo.with_tag("v1"))


def _docker_config(tmp_path: Path, host: str, user: str, password: str) -> Path:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return tmp_path


def test_credentials_come_from_docker_config_unless_switched_off(
    registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert registry_basic.username is not None
    assert registry_basic.password is not None
    config_dir = _docker_config(
        tmp_path, registry_basic.host, registry_basic.username, registry_basic.password
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    repo = _repo(registry_basic)
    plain = HostConfig(registry_basic.host, tls="disabled")
    Reg(Settings().with_host(plain)).ping(repo)
    with pytest.raises(UnauthorizedError):
        Reg(Settings(docker_config=False).with_host(plain)).ping(repo)


def test_explicit_credentials_win_over_docker_config(
    registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert registry_basic.username is not None
    config_dir = _docker_config(tmp_path, registry_basic.host, registry_basic.username, "stale")
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    explicit = HostConfig(
        registry_basic.host,
        tls="disabled",
        username=registry_basic.username,
        password=registry_basic.password,
    )
    Reg(Settings().with_host(explicit)).ping(_repo(registry_basic))
    with pytest.raises(UnauthorizedError):
        Reg(Settings().with_host(HostConfig(registry_basic.host, tls="disabled"))).ping(
            _repo(registry_basic)
        )


def test_token_auth(registry_token: RunningRegistry) -> None:
    reg = _reg(registry_token, username=registry_token.username, password=registry_token.password)
    source, target = _repo(registry_token, "src"), _repo(registry_token, "dst")
    image = oci_image("token")
    push(reg, source.with_tag("v1"), image)
    layer = image.manifest.layers[0].digest
    reg.blob_mount(source, target, layer)  # needs pull on the source in the same token
    assert reg.blob_head(target, layer).size == image.manifest.layers[0].size
    reg.tag_delete(source.with_tag("v1"))
    assert reg.tag_list(source) == []
    anonymous = _reg(registry_token)
    assert anonymous.blob_head(source, layer).digest == layer  # anonymous pull is granted
    with pytest.raises(UnauthorizedError):
        push(anonymous, source.with_tag("v2"), image)


def test_tls_with_the_ca_file(registry_tls: RunningRegistry) -> None:
    reg = _reg(registry_tls, ca_file=str(registry_tls.ca_file))
    repo = _repo(registry_tls)
    image = index_of([oci_image("tls")])
    push(reg, repo.with_tag("v1"), image)
    assert reg.manifest_get(repo.with_tag("v1")).raw == image.manifest.raw


def test_tls_without_the_ca_file_fails(registry_tls: RunningRegistry) -> None:
    with pytest.raises(TransportError, match="TLS") as info:
        _reg(registry_tls).ping(_repo(registry_tls))
    assert info.value.hint is not None


def test_plain_http_against_tls_says_the_host_speaks_https(registry_tls: RunningRegistry) -> None:
    with pytest.raises(RegistryError) as info:
        _reg(registry_tls, tls="disabled").ping(_repo(registry_tls))
    assert info.value.status == 400
    assert info.value.hint is not None
    assert "HTTPS" in info.value.hint


def test_https_against_plain_http_gets_the_hint(registry_anon: RunningRegistry) -> None:
    with pytest.raises(TransportError, match="HTTP response to HTTPS client") as info:
        _reg(registry_anon, tls="enabled").ping(_repo(registry_anon))
    assert info.value.hint == f"use plain HTTP for this host (--plain-http {registry_anon.host})"


def test_media_types_survive(registry_anon: RunningRegistry) -> None:
    reg, repo = _reg(registry_anon), _repo(registry_anon)
    image = docker_list([docker_image("mt")])
    push(reg, repo.with_tag("v1"), image)
    assert reg.manifest_head(repo.with_tag("v1")).media_type == mt.DOCKER_MANIFEST_LIST
