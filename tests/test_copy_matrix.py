"""The copy matrix against real storage: a docker-registry and OCI layouts on disk.

Routes ocidir->reg, reg->ocidir, reg->reg (same registry: every blob mounted) and
ocidir->ocidir, for an OCI image, a Docker v2s2 image, an OCI index and a Docker manifest list,
made two ways: by ``ocistore.testing.content``, and by ``skopeo copy`` from a layout this test
writes (skopeo re-encodes Docker content itself with ``--format v2s2``, so those bytes are not
ours); plus an image built by ``umoci``. Then platform filters, referrers and digest tags over
every route.

Each result is checked three ways: digests and bytes identical to the source (children too);
every blob read back through ocistore's verifying reader; and skopeo reading the result
(``inspect --raw`` must return the same bytes; ``copy --all`` to a ``dir:`` must fetch every
blob). skopeo 1.9 cannot read an OCI layout whose index.json entry has a Docker media type
(it accepts only OCI types there), so a Docker result in a layout is checked by skopeo after
ocistore copies it on to the registry unchanged.

A missing skopeo, umoci or registry binary fails these tests; it never skips them.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ocistore import mediatype as mt
from ocistore.client import Client
from ocistore.copy import CopyOptions, CopyResult
from ocistore.digest import Digest
from ocistore.manifest import Manifest
from ocistore.settings import Settings
from ocistore.testing.content import (
    Image,
    artifact,
    docker_image,
    docker_list,
    index_of,
    oci_image,
    push,
)
from tests.support.registry import RunningRegistry

pytestmark = [pytest.mark.registry, pytest.mark.interop]

SKOPEO = Path("/usr/bin/skopeo")
UMOCI = Path("/usr/bin/umoci")

KINDS: dict[str, Callable[[str], Image]] = {
    "oci-image": lambda seed: oci_image(f"{seed}-oci", layers=2),
    "docker-image": lambda seed: docker_image(f"{seed}-docker", layers=2),
    "oci-index": lambda seed: index_of(
        [
            oci_image(f"{seed}-amd64"),
            oci_image(f"{seed}-arm64", platform="linux/arm64"),
            oci_image(f"{seed}-armv7", platform="linux/arm/v7"),
        ]
    ),
    "docker-list": lambda seed: docker_list(
        [docker_image(f"{seed}-d-amd64"), docker_image(f"{seed}-d-arm64", platform="linux/arm64")]
    ),
}
ROUTES = {
    "ocidir-to-reg": ("ocidir", "reg"),
    "reg-to-ocidir": ("reg", "ocidir"),
    "reg-to-reg": ("reg", "reg"),
    "ocidir-to-ocidir": ("ocidir", "ocidir"),
}


def _tool(binary: Path, *args: str) -> bytes:
    """Run an interop tool; a missing binary or a failure fails the test in the tool's words."""
    if not binary.exists():
        pytest.fail(
            f"{binary} not found: the copy matrix needs it (apt-get install {binary.name})",
            pytrace=False,
        )
    done = subprocess.run([str(binary), *args], capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.fail(
            f"{binary.name} {' '.join(args)} failed: {done.stderr.decode(errors='replace')}"
        )
    return done.stdout


def skopeo(*args: str) -> bytes:
    return _tool(SKOPEO, *args)


def umoci(*args: str) -> bytes:
    return _tool(UMOCI, *args)


@dataclass(frozen=True)
class Place:
    """One location, as ocistore and as skopeo name it."""

    kind: str
    ref: str
    skopeo_ref: str

    @property
    def tls(self) -> list[str]:
        return ["--tls-verify=false"] if self.kind == "reg" else []


@dataclass
class Sites:
    """Fresh, uniquely named locations in the session registry and the test's directory."""

    registry: RunningRegistry
    tmp: Path
    run: str

    def at(self, kind: str, name: str, tag: str = "v1") -> Place:
        if kind == "reg":
            repo = f"{self.registry.host}/matrix-{self.run}/{name}"
            return Place("reg", f"{repo}:{tag}", f"docker://{repo}:{tag}")
        path = self.tmp / name
        return Place("ocidir", f"ocidir://{path}:{tag}", f"oci:{path}:{tag}")


@pytest.fixture
def sites(registry_anon: RunningRegistry, tmp_path: Path) -> Sites:
    return Sites(registry_anon, tmp_path, uuid.uuid4().hex[:10])


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(settings=Settings(docker_config=False)) as c:
        yield c


def seed(client: Client, place: Place, image: Image) -> None:
    ref = client.parse(place.ref)
    push(client.scheme(ref), ref, image)
    client.close(ref)


# -- checks ------------------------------------------------------------------------------------
def tree(client: Client, ref: str, top: Manifest) -> dict[Digest, Manifest]:
    """Every manifest reachable from ``top`` at ``ref``'s repository, by digest."""
    out = {top.digest: top}
    todo = [top]
    repo = client.parse(ref).bare()
    while todo:
        current = todo.pop()
        for entry in current.manifests:
            child = client.manifest_get(repo.with_digest(entry.digest))
            out[child.digest] = child
            todo.append(child)
    return out


def check_same_content(client: Client, source: str, target: str) -> Manifest:
    """Target bytes equal source bytes for every manifest; every target blob reads and verifies."""
    src_top, tgt_top = client.manifest_get(source), client.manifest_get(target)
    assert tgt_top.raw == src_top.raw
    assert tgt_top.media_type == src_top.media_type
    src_tree, tgt_tree = tree(client, source, src_top), tree(client, target, tgt_top)
    assert {d: m.raw for d, m in tgt_tree.items()} == {d: m.raw for d, m in src_tree.items()}
    repo = client.parse(target).bare()
    for manifest in tgt_tree.values():
        for blob in manifest.children() if not manifest.is_index else ():
            with client.blob_get(repo, blob.digest, size=blob.size) as reader:
                reader.verify_to_end()
    return tgt_top


def _all_oci(client: Client, place: Place) -> bool:
    top = client.manifest_get(place.ref)
    return all(
        m.media_type in (mt.OCI_MANIFEST, mt.OCI_INDEX)
        for m in tree(client, place.ref, top).values()
    )


def check_with_skopeo(client: Client, place: Place, expected: Manifest, sites: Sites) -> None:
    """skopeo returns the same bytes and can fetch every blob of the result."""
    if place.kind == "ocidir" and not _all_oci(client, place):
        onward = sites.at("reg", f"onward-{uuid.uuid4().hex[:8]}")
        client.image_copy(place.ref, onward.ref)
        place = onward
    raw = skopeo("inspect", "--raw", *place.tls, place.skopeo_ref)
    assert raw == expected.raw
    out = sites.tmp / f"skopeo-dir-{uuid.uuid4().hex[:8]}"
    skopeo(
        "copy",
        "--all",
        "--quiet",
        *(["--src-tls-verify=false"] if place.tls else []),
        place.skopeo_ref,
        f"dir:{out}",
    )
    assert (out / "manifest.json").read_bytes() == expected.raw
    if expected.is_image:
        info = json.loads(skopeo("inspect", *place.tls, place.skopeo_ref))
        assert info["Digest"] == str(expected.digest)
        assert len(info["Layers"]) == len(expected.layers)


def copy_then_close(
    client: Client, source: Place, target: Place, options: CopyOptions | None = None
) -> CopyResult:
    """Copy, then close the client: an OCI layout collects garbage on close, so the checks
    that follow see what survived it."""
    result = client.image_copy(source.ref, target.ref, options=options)
    client.close()
    return result


# -- ocistore-made content -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_copy_keeps_every_digest(client: Client, sites: Sites, route: str, kind: str) -> None:
    src_kind, tgt_kind = ROUTES[route]
    image = KINDS[kind](f"{route}-{kind}")
    source, target = sites.at(src_kind, f"src-{kind}"), sites.at(tgt_kind, f"dst-{kind}")
    seed(client, source, image)
    result = copy_then_close(client, source, target)
    assert result.digest == result.source_digest == image.digest
    assert not result.sparse
    blobs = image.all_blobs()
    if route in ("reg-to-reg", "ocidir-to-ocidir"):
        # same store: the registry mounts across repositories, layouts hard-link
        assert (result.blobs_mounted, result.blobs_copied) == (len(blobs), 0)
    else:
        assert result.blobs_copied == len(blobs)
        assert result.bytes_copied == sum(len(b) for b in blobs.values())
    assert result.manifests_pushed == 1 + len(image.children)
    top = check_same_content(client, source.ref, target.ref)
    assert top.digest == image.digest
    check_with_skopeo(client, target, image.manifest, sites)
    again = client.image_copy(source.ref, target.ref)
    assert (again.blobs_copied, again.blobs_mounted, again.manifests_pushed) == (0, 0, 0)


# -- skopeo-made content -------------------------------------------------------------------------
def skopeo_made(client: Client, sites: Sites, kind: str, src_kind: str) -> Place:
    """Content written by skopeo: pushed to the registry (converted to Docker v2s2 for the
    Docker kinds), and for a layout source written by skopeo too where skopeo can write it."""
    docker = kind.startswith("docker")
    base = KINDS["oci-index" if kind.endswith(("index", "list")) else "oci-image"](f"sk-{kind}")
    layout = sites.at("ocidir", f"ocistore-{kind}")
    seed(client, layout, base)
    pushed = sites.at("reg", f"skopeo-{kind}")
    fmt = ["--format", "v2s2"] if docker else []
    skopeo(
        "copy",
        "--all",
        "--quiet",
        "--dest-tls-verify=false",
        *fmt,
        layout.skopeo_ref,
        pushed.skopeo_ref,
    )
    made = Manifest.from_bytes(skopeo("inspect", "--raw", "--tls-verify=false", pushed.skopeo_ref))
    assert made.media_type == (
        {"docker-image": mt.DOCKER_MANIFEST, "docker-list": mt.DOCKER_MANIFEST_LIST}.get(
            kind, base.manifest.media_type
        )
    )
    if src_kind == "reg":
        return pushed
    local = sites.at("ocidir", f"skopeo-{kind}")
    if docker:  # skopeo would convert Docker content to OCI on its way into a layout
        client.image_copy(pushed.ref, local.ref)
    else:
        skopeo(
            "copy",
            "--all",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
            pushed.skopeo_ref,
            local.skopeo_ref,
        )
    client.close()
    return local


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_copy_of_skopeo_made_content(client: Client, sites: Sites, route: str, kind: str) -> None:
    src_kind, tgt_kind = ROUTES[route]
    source = skopeo_made(client, sites, kind, src_kind)
    expected = client.manifest_get(source.ref)
    target = sites.at(tgt_kind, f"copied-{kind}")
    result = copy_then_close(client, source, target)
    assert result.digest == expected.digest
    if route == "reg-to-reg":
        assert result.blobs_copied == 0
        assert result.blobs_mounted > 0
    check_same_content(client, source.ref, target.ref)
    check_with_skopeo(client, target, expected, sites)


# -- umoci-made content ---------------------------------------------------------------------------
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_copy_of_umoci_made_image(client: Client, sites: Sites, route: str) -> None:
    """umoci writes manifests without a ``mediaType`` field and an index.json without one
    either: the type is inferred, and the bytes still travel unchanged."""
    src_kind, tgt_kind = ROUTES[route]
    files = sites.tmp / "files"
    files.mkdir()
    (files / "hello.txt").write_text(f"made by umoci for {route}\n")
    layout = sites.at("ocidir", "umoci")
    image = f"{sites.tmp / 'umoci'}:v1"
    umoci("init", "--layout", str(sites.tmp / "umoci"))
    umoci("new", "--image", image)
    umoci("insert", "--rootless", "--image", image, str(files), "/data")
    umoci("config", "--image", image, "--config.env", f"ROUTE={route}")
    made = client.manifest_get(layout.ref)
    assert "mediaType" not in made.data
    assert made.media_type == mt.OCI_MANIFEST
    source = layout
    if src_kind == "reg":
        source = sites.at("reg", "umoci")
        client.image_copy(layout.ref, source.ref)
    target = sites.at(tgt_kind, "umoci-copy")
    result = copy_then_close(client, source, target)
    assert result.digest == made.digest
    check_same_content(client, source.ref, target.ref)
    check_with_skopeo(client, target, made, sites)


# -- platform filters ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["docker-list", "oci-index"])
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_platform_filter_writes_a_sparse_index(
    client: Client, sites: Sites, route: str, kind: str
) -> None:
    src_kind, tgt_kind = ROUTES[route]
    image = KINDS[kind](f"plat-{route}-{kind}")
    source, target = sites.at(src_kind, f"src-{kind}"), sites.at(tgt_kind, f"arm-{kind}")
    seed(client, source, image)
    result = copy_then_close(client, source, target, CopyOptions(platforms=("linux/arm64",)))
    assert result.sparse
    assert result.source_digest == image.digest
    got = client.manifest_get(target.ref)
    assert got.digest == result.digest != image.digest
    assert got.media_type == image.manifest.media_type
    arm = next(c for c in image.children if c.digest == got.manifests[0].digest)
    assert [e.platform and str(e.platform) for e in got.manifests] == ["linux/arm64"]
    assert client.manifest_get(target.ref, platform="linux/arm64").raw == arm.manifest.raw
    check_with_skopeo(client, target, got, sites)


# -- referrers and digest tags --------------------------------------------------------------------
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_referrers_are_copied(client: Client, sites: Sites, route: str) -> None:
    src_kind, tgt_kind = ROUTES[route]
    subject = KINDS["oci-index"](f"refs-{route}")
    sbom = artifact(subject.manifest.descriptor(), payload=f"sbom {route}".encode())
    sig = artifact(
        sbom.manifest.descriptor(),
        artifact_type="application/vnd.example.signature",
        payload=f"signature of the sbom {route}".encode(),
    )
    source, target = sites.at(src_kind, "subject"), sites.at(tgt_kind, "subject-copy")
    seed(client, source, subject)
    src_ref = client.parse(source.ref)
    for art in (sbom, sig):
        push(client.scheme(src_ref), src_ref.with_digest(art.digest), art, child=True)
    client.close()
    assert [d.digest for d in client.referrers(source.ref)] == [sbom.digest]
    result = copy_then_close(client, source, target, CopyOptions(referrers=True))
    assert result.digest == subject.digest
    assert result.referrers_copied == 2
    listed = client.referrers(target.ref)
    assert [d.digest for d in listed] == [sbom.digest]
    assert listed[0].artifact_type == "application/vnd.example.sbom+json"
    assert [d.digest for d in client.referrers(target.ref, digest=sbom.digest)] == [sig.digest]
    tgt = client.parse(target.ref)
    assert client.manifest_get(tgt.with_digest(sig.digest)).raw == sig.manifest.raw
    check_with_skopeo(client, target, subject.manifest, sites)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_digest_tags_are_copied(client: Client, sites: Sites, route: str) -> None:
    src_kind, tgt_kind = ROUTES[route]
    image = KINDS["oci-image"](f"dtags-{route}")
    signature = oci_image(f"dtags-sig-{route}", layers=1)
    source, target = sites.at(src_kind, "signed"), sites.at(tgt_kind, "signed-copy")
    seed(client, source, image)
    tag = f"sha256-{image.digest.encoded}.sig"
    seed(client, sites.at(src_kind, "signed", tag=tag), signature)
    result = copy_then_close(client, source, target, CopyOptions(digest_tags=True))
    assert result.tags_copied == (tag,)
    assert sorted(client.tag_list(target.ref)) == sorted(["v1", tag])
    sig_target = sites.at(tgt_kind, "signed-copy", tag=tag)
    assert client.manifest_get(sig_target.ref).raw == signature.manifest.raw
    check_with_skopeo(client, sig_target, signature.manifest, sites)
