"""Property tests over tar member parsing: whatever names and links a tar holds, indexing it
either refuses it with a ``LayoutError`` or yields members that stay inside the archive and
read back exactly the bytes stored for them."""

from __future__ import annotations

import io
import posixpath
import tarfile
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocistore.errors import LayoutError
from ocistore_ocifile.members import Archive, normalize

_PART = st.sampled_from(["a", "b", "blobs", "sha256", ".", "..", "", "x y", "é"])
_NAME = st.lists(_PART, min_size=1, max_size=5).map("/".join) | st.just("/abs")
_ENTRY = st.tuples(
    _NAME,
    st.sampled_from(["file", "symlink", "hardlink", "dir"]),
    _NAME,
    st.binary(max_size=64),
)


@given(_NAME)
def test_normalize_never_escapes(name: str) -> None:
    try:
        norm = normalize(name)
    except ValueError:
        return
    assert not norm.startswith("/")
    assert ".." not in norm.split("/")
    assert posixpath.normpath(norm or ".") in (norm, ".")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ENTRY, max_size=8))
def test_index_refuses_or_stays_inside(entries: list[tuple[str, str, str, bytes]]) -> None:
    buf = io.BytesIO()
    stored: dict[str, bytes] = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, target, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
                stored.setdefault(name, data)
                continue
            info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}.get(
                kind, tarfile.DIRTYPE
            )
            info.linkname = target
            t.addfile(info)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.tar"
        path.write_bytes(buf.getvalue())
        try:
            archive = Archive.load(path)
        except LayoutError:
            return
        by_norm = {normalize(n): d for n, d in stored.items()}
        contents = set(by_norm.values())
        for name, member in archive.members.items():
            assert not name.startswith("/")
            assert ".." not in name.split("/")
            assert 0 <= member.offset <= len(buf.getvalue())
            with archive.open(member) as f:
                data = f.read()
            if name in by_norm:
                assert data == by_norm[name]
            else:  # a link: it reads some regular file's bytes of this very tar
                assert data in contents
