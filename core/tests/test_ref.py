"""Reference grammars: tables of valid and invalid input, and print-parse round trips."""

from __future__ import annotations

import pytest

from ocistore.digest import Digest
from ocistore.errors import InvalidReferenceError
from ocistore.ref import Ref, parse_path_reference, parse_reg_reference, split_scheme

DIGEST = "sha256:" + "ab" * 32

D = "sha256:" + "a" * 64

REG_VALID = [
    # text, registry, repository, tag, digest
    ("alpine", "docker.io", "library/alpine", "latest", None),
    ("alpine:3.19", "docker.io", "library/alpine", "3.19", None),
    ("docker.io/alpine", "docker.io", "library/alpine", "latest", None),
    ("index.docker.io/library/alpine", "docker.io", "library/alpine", "latest", None),
    ("registry-1.docker.io/foo/bar:t", "docker.io", "foo/bar", "t", None),
    ("user/app", "docker.io", "user/app", "latest", None),
    ("ghcr.io/org/app:v1", "ghcr.io", "org/app", "v1", None),
    ("example.com./a", "example.com.", "a", "latest", None),
    ("localhost/group/image", "localhost", "group/image", "latest", None),
    ("localhost:5000/a/b:1", "localhost:5000", "a/b", "1", None),
    ("registry:5000/repo", "registry:5000", "repo", "latest", None),
    ("127.0.0.1:5000/repo:tag", "127.0.0.1:5000", "repo", "tag", None),
    ("[::1]:5000/repo", "[::1]:5000", "repo", "latest", None),
    ("Registry/repo", "Registry", "repo", "latest", None),
    (f"ghcr.io/a/b@{D}", "ghcr.io", "a/b", "", D),
    (f"ghcr.io/a/b:t@{D}", "ghcr.io", "a/b", "t", D),
    ("r.io/a__b/c-d/e.f/g---h:_x", "r.io", "a__b/c-d/e.f/g---h", "_x", None),
    ("r.io/a:" + "t" * 128, "r.io", "a", "t" * 128, None),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), REG_VALID)
def test_reg_reference_parses(
    text: str, registry: str, repository: str, tag: str, digest: str | None
) -> None:
    ref = parse_reg_reference(text)
    assert (ref.scheme, ref.registry, ref.repository, ref.tag) == ("reg", registry, repository, tag)
    assert ref.digest == (Digest.parse(digest) if digest else None)


@pytest.mark.parametrize("text", [t[0] for t in REG_VALID])
def test_reg_reference_prints_back_to_itself(text: str) -> None:
    ref = parse_reg_reference(text)
    assert parse_reg_reference(str(ref)) == ref


REG_INVALID = [
    ("", "empty"),
    (" alpine", "spaces"),
    ("Alpine", "lowercase"),
    ("r.io/Repo", "lowercase"),
    ("r.io/a___b", "invalid repository component"),
    ("r.io/-a", "invalid repository component"),
    ("r.io/a-", "invalid repository component"),
    ("r.io/a:-tag", "invalid tag"),
    ("r.io/a:" + "t" * 129, "invalid tag"),
    ("r.io/a:t=x", "invalid tag"),
    ("r.io/a@sha256:abc", "sha256 needs 64"),
    ("r.io/a@md5:" + "a" * 32, "unsupported algorithm"),
    ("r.io/a@sha256:" + "A" * 64, "lowercase hex"),
    ("localhost:5000", "repository is empty"),
    ("localhost", "repository is empty"),
    ("reg.io/", "invalid repository component"),
    ("ocidir://x", "no scheme prefix"),
    ("bad_host.io:99999999/a", "invalid registry host"),
    ("r.io/" + "a" * 260, "longer than"),
]


@pytest.mark.parametrize(("text", "message"), REG_INVALID)
def test_reg_reference_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message) as info:
        parse_reg_reference(text)
    assert repr(text) in str(info.value)


PATH_VALID = [
    ("ocidir://layout", "layout", "", None),
    ("ocidir://layout:v1", "layout", "v1", None),
    ("ocidir:///abs/path/x:v1", "/abs/path/x", "v1", None),
    ("ocidir://./rel/dir", "./rel/dir", "", None),
    ("ocidir://with space/x:t", "with space/x", "t", None),
    ("ocidir://a~b+c_d-e.f", "a~b+c_d-e.f", "", None),
    (f"ocidir://dir@{D}", "dir", "", D),
    (f"ocidir://dir:tag@{D}", "dir", "tag", D),
    ("layout:t", "layout", "t", None),
]


@pytest.mark.parametrize(("text", "path", "tag", "digest"), PATH_VALID)
def test_path_reference_parses(text: str, path: str, tag: str, digest: str | None) -> None:
    ref = parse_path_reference("ocidir", text)
    assert (ref.scheme, ref.path, ref.tag) == ("ocidir", path, tag)
    assert ref.digest == (Digest.parse(digest) if digest else None)
    assert parse_path_reference("ocidir", str(ref)) == ref


PATH_INVALID = [
    ("ocidir://", "path is empty"),
    ("ocidir://:tag", "path is empty"),
    ("ocidir://invalid*name", "not allowed"),
    ("ocidir://file:tag=x", "invalid tag"),
    ("ocidir://d@sha256:short", "sha256 needs 64"),
    ("other://d", "expected ocidir://"),
]


@pytest.mark.parametrize(("text", "message"), PATH_INVALID)
def test_path_reference_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message):
        parse_path_reference("ocidir", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ocidir://x", ("ocidir", "x")),
        ("my-scheme+v2.x://y", ("my-scheme+v2.x", "y")),
        ("host:5000/repo", (None, "host:5000/repo")),
        ("Upper://x", (None, "Upper://x")),
        ("1abc://x", (None, "1abc://x")),
    ],
)
def test_split_scheme_only_on_a_scheme_prefix(text: str, expected: tuple[str | None, str]) -> None:
    assert split_scheme(text) == expected


def test_ref_helpers() -> None:
    ref = parse_reg_reference(f"r.io/a:t@{D}")
    assert ref.reference == D
    assert ref.with_tag("x").digest is None
    assert ref.with_tag("x").tag == "x"
    assert ref.with_digest(D).tag == ""
    assert ref.with_digest(D, keep_tag=True).tag == "t"
    assert ref.bare() == Ref("reg", registry="r.io", repository="a")
    assert ref.same_repository(parse_reg_reference("r.io/a:other"))
    assert not ref.same_repository(parse_reg_reference("r.io/b"))
    assert ref.same_registry(parse_reg_reference("r.io/b"))
    assert not ref.same_registry(parse_reg_reference("s.io/a"))
    with pytest.raises(InvalidReferenceError, match="invalid tag"):
        ref.with_tag("bad tag")


@pytest.mark.parametrize(
    ("text", "path", "repository", "tag", "digest"),
    [
        (
            "sqlite:///data/store.db#library/alpine:3.19",
            "/data/store.db",
            "library/alpine",
            "3.19",
            None,
        ),
        ("sqlite://rel.db#app", "rel.db", "app", "", None),
        (f"sqlite:///d b.db#a/b@{DIGEST}", "/d b.db", "a/b", "", DIGEST),
        (f"sqlite:///x.db#a:v1@{DIGEST}", "/x.db", "a", "v1", DIGEST),
        ("sqlite:///only/the/file.db:v2", "/only/the/file.db", "", "v2", None),
    ],
)
def test_a_path_reference_can_hold_a_repository_and_prints_back(
    text: str, path: str, repository: str, tag: str, digest: str | None
) -> None:
    ref = parse_path_reference("sqlite", text, repository=True)
    assert (ref.path, ref.repository, ref.tag) == (path, repository, tag)
    assert ref.digest == (Digest.parse(digest) if digest else None)
    assert str(ref) == text
    assert parse_path_reference("sqlite", str(ref), repository=True) == ref
    assert ref.with_tag("t").repository == repository
    assert repository in ref.location


def test_a_repository_is_refused_where_the_scheme_takes_none_or_malformed() -> None:
    with pytest.raises(InvalidReferenceError, match="'#'"):
        parse_path_reference("ocidir", "ocidir:///a#repo:v1")
    with pytest.raises(InvalidReferenceError, match="invalid repository 'Upper'"):
        parse_path_reference("sqlite", "sqlite:///a.db#Upper", repository=True)
    with pytest.raises(InvalidReferenceError, match="invalid repository ''"):
        parse_path_reference("sqlite", "sqlite:///a.db#", repository=True)
