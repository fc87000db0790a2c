"""Property tests: every parser of outside input raises only ocistore errors, whatever it gets.

Hypothesis feeds each parser text and bytes built to get near its grammar (reference-like
strings with every scheme's separators, digest-like strings, JSON documents shaped like
manifests, indexes and docker config files but with wrong types, deep nesting and odd
characters, header values made of the grammar's own punctuation) as well as plain noise. A
parser may accept or reject; it must never raise anything outside ``ocistore.errors`` (a
``ValueError`` from ``urllib``, a ``RecursionError`` from ``json``, a ``TypeError`` from a
field of the wrong type), and what it accepts must survive the next step a caller takes with it
(a reference prints back to text that parses to it; a manifest's children can be listed).

Runs are derandomised, so CI sees the same cases each time; each test prints how many cases it
tried and how many the parser accepted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocistore import mediatype as mt
from ocistore.descriptor import Descriptor
from ocistore.digest import Digest
from ocistore.errors import OCIStoreError
from ocistore.manifest import Manifest
from ocistore.platform import Platform
from ocistore.ref import parse_path_reference, parse_reg_reference
from ocistore_ocidir.index import Index
from ocistore_reg.challenge import parse_challenges
from ocistore_reg.credentials import lookup_credentials
from ocistore_reg.urls import next_link, parse_content_range, redact, resolve

EXAMPLES = 400
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    # the tally fixture is meant to outlive one example: it counts them all
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)

#: Characters that matter to one grammar or another, so that generated text is near-miss.
PUNCT = ":/@.-_+=,;\"'\\ <>[]{}()%?#*\t\n\0"


def grammar_text(alphabet: str, max_size: int = 80) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.sampled_from(alphabet) | st.characters(), max_size=max_size)


REF_ALPHABET = "abcxyzABC0123456789" + PUNCT
HEX = "0123456789abcdef"


@st.composite
def references(draw: st.DrawFn) -> str:
    """Reference-like text: registry, path, tag and digest pieces glued with the separators."""
    piece = grammar_text(REF_ALPHABET, 20)
    parts = draw(st.lists(piece, max_size=6))
    seps = draw(st.lists(st.sampled_from(["/", ":", "@", "", "://", "."]), min_size=len(parts)))
    text = "".join(p + s for p, s in zip(parts, seps, strict=False))
    if draw(st.booleans()):
        text += "@sha256:" + draw(st.text(alphabet=HEX + "gG:", min_size=0, max_size=70))
    return draw(st.sampled_from(["", "localhost:5000/", "127.0.0.1/", "[::1]:5000/"])) + text


NAME = st.text(alphabet="abcz019._-", min_size=1, max_size=8)
VALID_REFS = st.builds(
    lambda host, path, tag: f"{host}{'/'.join(path)}{tag}",
    st.sampled_from(["", "localhost:5000/", "127.0.0.1/", "[::1]:5000/", "docker.io/"]),
    st.lists(NAME, min_size=1, max_size=3),
    st.sampled_from(["", ":v1", ":latest", "@sha256:" + "a" * 64, ":v1@sha256:" + "b" * 64]),
)


def digests() -> st.SearchStrategy[str]:
    valid = st.binary(max_size=8).map(lambda b: str(Digest.from_bytes(b)))
    algs = st.sampled_from(["sha256", "sha512", "sha384", "md5", "SHA256", "", "sha256+b64", "a.b"])
    hexes = st.text(alphabet=HEX + "ABCDEF/.:\0 ", max_size=140)
    near = st.builds(lambda a, s, h: f"{a}{s}{h}", algs, st.sampled_from([":", "", "::"]), hexes)
    return valid | near | st.text()


JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
MEDIA_TYPES = st.sampled_from([*mt.ACCEPT_MANIFESTS, mt.OCI_CONFIG, "", "application/json", "x"])


@st.composite
def descriptor_like(draw: st.DrawFn) -> dict[str, Any]:
    keys = {
        "mediaType": MEDIA_TYPES | JSON,
        "digest": digests() | JSON,
        "size": st.integers(min_value=-5, max_value=2**80) | JSON,
        "platform": st.fixed_dictionaries(
            {"architecture": st.text(max_size=8) | JSON, "os": st.text(max_size=8) | JSON}
        )
        | JSON,
        "urls": st.lists(st.text(max_size=20)) | JSON,
        "annotations": st.dictionaries(st.text(max_size=10), st.text(max_size=10) | JSON) | JSON,
        "artifactType": st.text(max_size=20) | JSON,
    }
    chosen = draw(st.lists(st.sampled_from(sorted(keys)), unique=True))
    return {k: draw(keys[k]) for k in chosen}


@st.composite
def manifest_like(draw: st.DrawFn) -> bytes:
    """Bytes of a JSON document shaped like a manifest or index, or broken JSON."""
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["schemaVersion"] = draw(st.sampled_from([2, 1, "2", None, 2.0]))
    if draw(st.booleans()):
        doc["mediaType"] = draw(MEDIA_TYPES)
    for key in draw(st.lists(st.sampled_from(["config", "subject"]), unique=True)):
        doc[key] = draw(descriptor_like() | JSON)
    for key in draw(st.lists(st.sampled_from(["layers", "manifests", "blobs"]), unique=True)):
        doc[key] = draw(st.lists(descriptor_like() | JSON, max_size=4) | JSON)
    if draw(st.booleans()):
        doc["annotations"] = draw(JSON)
    raw = json.dumps(doc).encode()
    mangle = draw(st.sampled_from(["none", "cut", "deep", "noise", "bom"]))
    if mangle == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif mangle == "deep":
        depth = draw(st.sampled_from([100, 990, 5000, 100_000]))
        raw = b"[" * depth + b"]" * draw(st.sampled_from([0, depth]))
    elif mangle == "noise":
        raw = draw(st.binary(max_size=200))
    elif mangle == "bom":
        raw = b"\xef\xbb\xbf" + raw
    return raw


# -- the harness --------------------------------------------------------------------------------

Outcomes = Counter[str]


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Outcomes]:
    counts: Outcomes = Counter()
    yield counts
    tried = counts["accepted"] + counts["rejected"]
    print(
        f"\nproperty {request.node.name}: {tried} cases, {counts['accepted']} accepted, "
        f"{counts['rejected']} rejected with an ocistore error, 0 other exceptions"
    )
    assert counts["without a message"] == 0


def judge(counts: Outcomes, parse: Callable[[], object]) -> object | None:
    """Run ``parse``; an ocistore error is a rejection, anything else escapes (and fails)."""
    try:
        result = parse()
    except OCIStoreError as e:
        message = str(e)
        counts["rejected"] += 1
        counts["without a message"] += not message
        return None
    counts["accepted"] += 1
    return result


# -- references and digests ---------------------------------------------------------------------


@PROPERTY
@given(text=references() | VALID_REFS)
def test_registry_references(tally: Outcomes, text: str) -> None:
    ref = judge(tally, lambda: parse_reg_reference(text))
    if ref is not None:
        assert parse_reg_reference(str(ref)) == ref


@PROPERTY
@given(text=references() | VALID_REFS, scheme=st.sampled_from(["ocidir", "ocifile", "dockertar"]))
def test_path_references_of_every_scheme(tally: Outcomes, text: str, scheme: str) -> None:
    ref = judge(tally, lambda: parse_path_reference(scheme, text))
    if ref is not None:
        assert parse_path_reference(scheme, str(ref).removeprefix(f"{scheme}://")) == ref


@PROPERTY
@given(text=references() | VALID_REFS | st.text())
def test_routed_references(tally: Outcomes, text: str) -> None:
    from ocistore.client import Client
    from ocistore.settings import Settings

    judge(tally, lambda: Client(settings=Settings(docker_config=False)).parse(text))


@PROPERTY
@given(text=digests())
def test_digests(tally: Outcomes, text: str) -> None:
    digest = judge(tally, lambda: Digest.parse(text))
    if isinstance(digest, Digest):
        assert Digest.parse(str(digest)) == digest
        assert "/" not in digest.encoded and "\0" not in str(digest)


@PROPERTY
@given(text=grammar_text("linux/amd64arm64v8windows" + PUNCT, 40))
def test_platforms(tally: Outcomes, text: str) -> None:
    judge(tally, lambda: Platform.parse(text))


# -- manifests, indexes, descriptors ------------------------------------------------------------


@PROPERTY
@given(raw=manifest_like(), media_type=st.none() | MEDIA_TYPES)
def test_manifests_and_indexes(tally: Outcomes, raw: bytes, media_type: str | None) -> None:
    def parse_and_walk() -> Manifest:
        manifest = Manifest.from_bytes(raw, media_type=media_type)
        manifest.children()
        _ = manifest.manifests, manifest.subject, manifest.descriptor()
        if manifest.is_index:
            for entry in manifest.manifests:
                _ = entry.platform
        return manifest

    judge(tally, parse_and_walk)


@PROPERTY
@given(obj=descriptor_like() | JSON)
def test_descriptors(tally: Outcomes, obj: Any) -> None:
    judge(tally, lambda: Descriptor.from_dict(obj))


@PROPERTY
@given(raw=manifest_like())
def test_ocidir_index_json(tally: Outcomes, raw: bytes) -> None:
    def parse_and_use() -> Index:
        index = Index.parse(raw, "index.json")
        index.tags()
        for entry in index:
            index.descriptor(entry)
        return index

    judge(tally, parse_and_use)


# -- HTTP headers -------------------------------------------------------------------------------

CHALLENGE_ALPHABET = 'BearerBasicrealmservicescope=",\\ \t' + PUNCT


@PROPERTY
@given(
    values=st.lists(grammar_text(CHALLENGE_ALPHABET, 120), max_size=3)
    | grammar_text(CHALLENGE_ALPHABET, 200)
)
def test_www_authenticate_challenges(tally: Outcomes, values: list[str] | str) -> None:
    judge(tally, lambda: parse_challenges(values))


LINK_ALPHABET = '<>;,="relnext /?&:[]%@#' + "abc019"
BASES = st.sampled_from(
    ["http://127.0.0.1:5000/v2/a/tags/list", "https://[::1]:443/v2/x", "http://h/v2/?n=1"]
)


@PROPERTY
@given(value=grammar_text(LINK_ALPHABET, 120), base=BASES)
def test_link_headers(tally: Outcomes, value: str, base: str) -> None:
    def follow() -> str | None:
        url = next_link({"Link": value}, base)
        if url is not None:
            redact(url)  # every URL a server hands us ends up in a message
        return url

    judge(tally, follow)


@PROPERTY
@given(value=grammar_text("htps:/[]@%:0123456789abc?#.\\ ", 80), base=BASES)
def test_location_headers(tally: Outcomes, value: str, base: str) -> None:
    judge(tally, lambda: redact(resolve(base, value)))


@PROPERTY
@given(value=grammar_text("bytes 0123456789-/*=, ", 40))
def test_content_range_headers(tally: Outcomes, value: str) -> None:
    judge(tally, lambda: parse_content_range(value))


# -- docker config.json -------------------------------------------------------------------------


@st.composite
def docker_configs(draw: st.DrawFn) -> str:
    entry = st.fixed_dictionaries(
        {},
        optional={
            "auth": st.text(max_size=30) | st.binary(max_size=20).map(lambda b: b.hex()) | JSON,
            "username": st.text(max_size=10) | JSON,
            "password": st.text(max_size=10) | JSON,
            "identitytoken": st.text(max_size=10) | JSON,
            "registrytoken": st.text(max_size=10) | JSON,
        },
    )
    hosts = st.sampled_from(
        ["127.0.0.1:5000", "http://127.0.0.1:5000", "https://127.0.0.1:5000/v1/", "", "x"]
    ) | st.text(max_size=20)
    doc = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "auths": st.dictionaries(hosts, entry | JSON, max_size=3) | JSON,
                "credHelpers": st.dictionaries(hosts, st.text(max_size=12) | JSON, max_size=2)
                | JSON,
                "credsStore": st.text(max_size=12) | JSON,
            },
        )
    )
    text = json.dumps(doc)
    mangle = draw(st.sampled_from(["none", "none", "cut", "deep", "noise"]))
    if mangle == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif mangle == "deep":
        text = "[" * draw(st.sampled_from([990, 100_000]))
    elif mangle == "noise":
        text = draw(st.text(max_size=100))
    return text


@PROPERTY
@given(text=docker_configs(), host=st.sampled_from(["127.0.0.1:5000", "localhost", "x"]))
def test_docker_config_json(tally: Outcomes, text: str, host: str, tmp_path_factory: Any) -> None:
    # an empty PATH: a credential helper named by the config is looked for, never found or run
    empty = Path(tmp_path_factory.mktemp("nobin"))
    env = {"DOCKER_CONFIG": str(empty), "PATH": str(empty), "HOME": str(empty)}
    (empty / "config.json").write_text(text, encoding="utf-8", errors="surrogatepass")
    judge(tally, lambda: lookup_credentials(host, env=env))
    judge(tally, lambda: lookup_credentials(host, env={**env, "DOCKER_AUTH_CONFIG": text}))
