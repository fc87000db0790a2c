"""Layout files: creation on first write, version checks, and errors that name the path."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from ocidir_testlib import index_json

from ocistore.digest import Digest
from ocistore.errors import LayoutError, LayoutNotFoundError, TagNotFoundError
from ocistore.ref import Ref
from ocistore.testing.content import oci_image, push
from ocistore_ocidir.plugin import parse
from ocistore_ocidir.scheme import OCIDir


def test_first_write_creates_the_layout(scheme: OCIDir, tmp_path: Path) -> None:
    ref = parse(f"ocidir://{tmp_path}/a/b/new")
    scheme.blob_put(ref, None, io.BytesIO(b"x"), 1)
    root = tmp_path / "a/b/new"
    assert json.loads((root / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    assert (root / "oci-layout").read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'
    assert index_json(ref)["manifests"] == []
    assert (root / "blobs/sha256").is_dir()


@pytest.mark.parametrize(
    "call",
    [
        lambda s, r: s.manifest_get(r),
        lambda s, r: s.manifest_head(r.with_tag("v1")),
        lambda s, r: s.tag_list(r),
        lambda s, r: s.blob_head(r, oci_image().digest),
        lambda s, r: s.blob_get(r, oci_image().digest),
        lambda s, r: s.referrers(r, oci_image().digest),
        lambda s, r: s.manifest_delete(r.with_digest(oci_image().digest)),
        lambda s, r: s.tag_delete(r.with_tag("v1")),
        lambda s, r: s.blob_delete(r, oci_image().digest),
    ],
    ids=["get", "head", "tags", "blob-head", "blob-get", "referrers", "delete", "untag", "rm"],
)
def test_reads_of_a_missing_layout_say_so_and_name_it(scheme: OCIDir, tmp_path: Path, call) -> None:  # type: ignore[no-untyped-def]
    ref = parse(f"ocidir://{tmp_path}/nowhere")
    with pytest.raises(LayoutNotFoundError, match="nowhere"):
        call(scheme, ref)
    assert not (tmp_path / "nowhere").exists()  # reads and deletes create nothing


def test_an_empty_directory_is_not_a_layout(scheme: OCIDir, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutNotFoundError, match=r"neither oci-layout nor index\.json"):
        scheme.tag_list(parse(f"ocidir://{tmp_path}/empty"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"imageLayoutVersion":"2.0.0"}', "unsupported imageLayoutVersion '2.0.0'"),
        (b'{"imageLayoutVersion":"1.0"}', "unsupported imageLayoutVersion '1.0'"),
        (b'{"imageLayoutVersion":1}', "no imageLayoutVersion string"),
        (b"{}", "no imageLayoutVersion string"),
        (b"not json", "oci-layout is not JSON"),
    ],
)
def test_other_layout_versions_are_refused_for_reading_and_writing(
    scheme: OCIDir, tmp_path: Path, content: bytes, message: str
) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    (root / "oci-layout").write_bytes(content)
    (root / "index.json").write_bytes(b'{"schemaVersion":2,"manifests":[]}')
    ref = parse(f"ocidir://{root}")
    with pytest.raises(LayoutError, match=message) as info:
        scheme.tag_list(ref)
    assert str(root) in str(info.value)
    with pytest.raises(LayoutError, match=message):
        OCIDir().blob_put(ref, None, io.BytesIO(b"x"), 1)
    with pytest.raises(LayoutError, match=message):
        OCIDir().ping(ref)
    assert (root / "oci-layout").read_bytes() == content


def test_extra_layout_fields_are_allowed(scheme: OCIDir, tmp_path: Path) -> None:
    root = tmp_path / "extra"
    root.mkdir()
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0","x":1}')
    (root / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    assert scheme.tag_list(parse(f"ocidir://{root}")) == []


def test_a_layout_without_oci_layout_file_is_still_read(scheme: OCIDir, layout: Ref) -> None:
    push(scheme, layout.with_tag("v1"), oci_image("lenient"))
    (Path(layout.path) / "oci-layout").unlink()
    assert OCIDir().tag_list(layout) == ["v1"]
    push(OCIDir(), layout.with_tag("v2"), oci_image("again"))  # and a write restores the file
    assert (Path(layout.path) / "oci-layout").is_file()


def test_a_file_instead_of_a_directory_is_a_layout_error(scheme: OCIDir, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    ref = parse(f"ocidir://{tmp_path}/file")
    with pytest.raises(LayoutError, match="not a directory"):
        scheme.tag_list(ref)
    with pytest.raises(LayoutError, match="not a directory"):
        scheme.blob_put(ref, None, io.BytesIO(b"x"), 1)
    with pytest.raises(LayoutError, match="not a directory"):
        scheme.ping(ref)


def test_ping_accepts_a_layout_still_to_be_created(scheme: OCIDir, tmp_path: Path) -> None:
    scheme.ping(parse(f"ocidir://{tmp_path}/later"))
    assert not (tmp_path / "later").exists()


def test_relative_paths_share_state_with_absolute_ones(
    scheme: OCIDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    push(scheme, parse("ocidir://rel:v1"), oci_image("rel"))
    assert scheme.tag_list(parse(f"ocidir://{tmp_path}/rel")) == ["v1"]
    with pytest.raises(TagNotFoundError, match="'v2' not found in OCI layout rel"):
        scheme.manifest_get(parse("ocidir://rel:v2"))


def test_oserrors_become_layout_errors_naming_operation_and_file(
    scheme: OCIDir, layout: Ref
) -> None:
    push(scheme, layout.with_tag("v1"), oci_image("os"))
    (Path(layout.path) / "blobs" / "sha512").write_text("a file where a directory belongs")
    data = b"y"
    with pytest.raises(LayoutError, match=r"ocidir blob put .* failed: .*sha512") as info:
        scheme.blob_put(layout, Digest.from_bytes(data, "sha512"), io.BytesIO(data), 1)
    assert isinstance(info.value.__cause__, OSError)
    scheme.blob_put(layout, None, io.BytesIO(data), 1)  # sha256 is unaffected
