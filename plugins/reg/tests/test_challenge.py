"""Table tests for WWW-Authenticate parsing and scope handling."""

from __future__ import annotations

import pytest

from ocistore_reg.challenge import (
    Challenge,
    Scope,
    merge_scopes,
    parse_challenges,
    render_scopes,
    repository_scope,
    scopes_cover,
)

HUB = (
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
    'scope="repository:samalba/my-app:pull,push"'
)

PARSE_CASES: list[tuple[str, list[str], list[tuple[str, dict[str, str]]]]] = [
    (
        "docker hub example",
        [HUB],
        [
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:samalba/my-app:pull,push",
                },
            )
        ],
    ),
    ("basic", ['Basic realm="Registry Realm"'], [("basic", {"realm": "Registry Realm"})]),
    ("scheme case-insensitive", ['BASIC realm="x"'], [("basic", {"realm": "x"})]),
    ("mixed-case scheme", ['bEaReR realm="x"'], [("bearer", {"realm": "x"})]),
    (
        "param names case-insensitive",
        ['Bearer Realm="x",SERVICE="s"'],
        [("bearer", {"realm": "x", "service": "s"})],
    ),
    ("unquoted values", ["Bearer realm=x,service=y"], [("bearer", {"realm": "x", "service": "y"})]),
    (
        "unquoted url value",
        ["Bearer realm=https://a.example/token?x=1,service=s"],
        [("bearer", {"realm": "https://a.example/token?x=1", "service": "s"})],
    ),
    (
        "spaces around = and commas",
        ['Bearer realm = "x" ,  service= "y"'],
        [("bearer", {"realm": "x", "service": "y"})],
    ),
    (
        "quoted comma is not a separator",
        ['Bearer realm="x",scope="repository:a/b:pull,push",service="s"'],
        [("bearer", {"realm": "x", "scope": "repository:a/b:pull,push", "service": "s"})],
    ),
    (
        "escaped quote and backslash",
        [r'Basic realm="say \"hi\", then \\ go"'],
        [("basic", {"realm": 'say "hi", then \\ go'})],
    ),
    ("escaped ordinary char", [r'Basic realm="a\bc"'], [("basic", {"realm": "abc"})]),
    (
        "empty quoted value",
        ['Bearer realm="",service="s"'],
        [("bearer", {"realm": "", "service": "s"})],
    ),
    (
        "two challenges in one line",
        ['Basic realm="b", Bearer realm="t",service="s"'],
        [("basic", {"realm": "b"}), ("bearer", {"realm": "t", "service": "s"})],
    ),
    (
        "two challenges in separate lines",
        ['Basic realm="b"', 'Bearer realm="t",service="s"'],
        [("basic", {"realm": "b"}), ("bearer", {"realm": "t", "service": "s"})],
    ),
    (
        "several scopes in one value",
        ['Bearer realm="t",scope="repository:a:pull repository:b:pull,push"'],
        [("bearer", {"realm": "t", "scope": "repository:a:pull repository:b:pull,push"})],
    ),
    (
        "error parameter",
        ['Bearer realm="t",error="insufficient_scope",scope="repository:a:push"'],
        [("bearer", {"realm": "t", "error": "insufficient_scope", "scope": "repository:a:push"})],
    ),
    (
        "host:port inside a scope",
        ['Bearer realm="t",scope="repository:reg.example:5000/a/b:pull"'],
        [("bearer", {"realm": "t", "scope": "repository:reg.example:5000/a/b:pull"})],
    ),
    ("bare scheme", ["Negotiate"], [("negotiate", {})]),
    (
        "bare scheme then another",
        ["Negotiate, Basic realm=x"],
        [("negotiate", {}), ("basic", {"realm": "x"})],
    ),
    ("empty header", [""], []),
    ("only commas", [" , ,"], []),
    ("no values", [], []),
    (
        "repeated scope parameters are joined",
        ['Bearer realm="t",scope="repository:a:pull",scope="repository:b:pull"'],
        [("bearer", {"realm": "t", "scope": "repository:a:pull repository:b:pull"})],
    ),
    (
        "first of other repeated params wins",
        ['Bearer realm="a",realm="b"'],
        [("bearer", {"realm": "a"})],
    ),
    ("unterminated quote", ['Basic realm="oops'], [("basic", {"realm": "oops"})]),
    (
        "junk between challenges is skipped",
        ['Basic realm="b", ="junk", Bearer realm="t"'],
        [("basic", {"realm": "b"}), ("bearer", {"realm": "t"})],
    ),
]


@pytest.mark.parametrize(
    ("label", "values", "expected"), PARSE_CASES, ids=[c[0] for c in PARSE_CASES]
)
def test_parse_challenges(
    label: str, values: list[str], expected: list[tuple[str, dict[str, str]]]
) -> None:
    got = [(c.scheme, c.params) for c in parse_challenges(values)]
    assert got == expected, label


def test_a_single_string_is_one_header_value() -> None:
    assert [c.scheme for c in parse_challenges('Basic realm="x"')] == ["basic"]


def test_token68() -> None:
    (negotiate, basic) = parse_challenges(["Negotiate YIIB+/a==, Basic realm=x"])
    assert negotiate.scheme == "negotiate"
    assert negotiate.token68 == "YIIB+/a=="
    assert negotiate.params == {}
    assert basic.params == {"realm": "x"}


def test_helpers() -> None:
    (challenge,) = parse_challenges(
        [
            'Bearer realm="r",service="s",'
            'scope="repository:a:pull repository:h:5000/b:push",error="invalid_token"'
        ]
    )
    assert challenge.realm == "r"
    assert challenge.service == "s"
    assert challenge.scopes == ["repository:a:pull", "repository:h:5000/b:push"]
    assert challenge.error == "invalid_token"
    empty = Challenge("basic")
    assert (empty.realm, empty.service, empty.scopes, empty.error) == (None, None, [], None)


def test_challenges_compare_and_hash_by_content() -> None:
    first = parse_challenges(['Bearer realm="r",service="s"'])[0]
    second = parse_challenges(["bearer service=s, realm=r"])[0]
    assert first == second
    assert hash(first) == hash(second)
    assert first.key == second.key
    assert first != parse_challenges(['Bearer realm="r",service="s",error="invalid_token"'])[0]


SCOPE_CASES = [
    ("repository:a/b:pull", Scope("repository", "a/b", ("pull",))),
    ("repository:a/b:push,pull", Scope("repository", "a/b", ("pull", "push"))),
    ("repository:a/b:pull,pull", Scope("repository", "a/b", ("pull",))),
    (
        "repository:localhost:5000/a/b:pull,push",
        Scope("repository", "localhost:5000/a/b", ("pull", "push")),
    ),
    ("repository:[::1]:5000/x:delete", Scope("repository", "[::1]:5000/x", ("delete",))),
    ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
    ("repository(plugin):a:pull", Scope("repository(plugin)", "a", ("pull",))),
    ("repository:a:", Scope("repository", "a", ())),
    ("repository:a:custom,pull", Scope("repository", "a", ("pull", "custom"))),
]


@pytest.mark.parametrize(("text", "expected"), SCOPE_CASES, ids=[c[0] for c in SCOPE_CASES])
def test_scope_parse(text: str, expected: Scope) -> None:
    assert Scope.parse(text) == expected


@pytest.mark.parametrize("text", ["", "repository", "repository:a", ":a:pull", "repository::pull"])
def test_scope_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a scope"):
        Scope.parse(text)


def test_scope_render_round_trip() -> None:
    for text in ["repository:h:5000/a:pull,push", "registry:catalog:*", "repository:a:"]:
        assert Scope.parse(text).render() == text
        assert str(Scope.parse(text)) == text


def test_merge_scopes() -> None:
    merged = merge_scopes(
        [
            "repository:b:push",
            "repository:a:pull",
            Scope("repository", "b", ("pull",)),
            "repository:h:5000/c:pull",
            "repository:h:5000/c:delete",
        ]
    )
    assert render_scopes(merged) == [
        "repository:a:pull",
        "repository:b:pull,push",
        "repository:h:5000/c:pull,delete",
    ]
    # Order of input does not matter, so merged tuples can be cache keys.
    assert merged == merge_scopes(reversed(render_scopes(merged)))
    assert merge_scopes([]) == ()


def test_merge_scopes_rejects_malformed() -> None:
    with pytest.raises(ValueError, match="not a scope"):
        merge_scopes(["repository:a:pull", "nonsense"])


def test_covers() -> None:
    push = Scope.parse("repository:a:pull,push")
    assert push.covers(Scope.parse("repository:a:pull"))
    assert not Scope.parse("repository:a:pull").covers(push)
    assert not push.covers(Scope.parse("repository:b:pull"))
    assert Scope.parse("repository:a:*").covers(Scope.parse("repository:a:delete"))
    granted = merge_scopes(["repository:a:pull,push", "repository:b:pull"])
    assert scopes_cover(granted, merge_scopes(["repository:a:push", "repository:b:pull"]))
    assert not scopes_cover(granted, merge_scopes(["repository:b:push"]))
    assert scopes_cover(granted, ())


def test_repository_scope() -> None:
    assert repository_scope("a/b", "push", "pull") == "repository:a/b:pull,push"
    assert repository_scope("h:5000/a", "pull") == "repository:h:5000/a:pull"
