"""The sync config: TOML read, ``${ENV}`` expanded, JSON Schema checked, errors naming the key;
and the pure parts of the engine (tag filters, shards)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocistore.errors import ConfigError
from ocistore.sync.config import SyncConfig, TagRules, load_config, parse_duration
from ocistore.sync.envexpand import expand
from ocistore.sync.filters import TagFilter
from ocistore.sync.shard import Shard
from tests.test_cli import assert_one_line_error, run

GOOD = """
version = 1
[defaults]
parallel = 3
host_requests = 5
referrers = true
backup = "{tag}-old-{date}"
tags.deny = [".*-rc.*"]

[hosts."127.0.0.1:5999"]
user = "${SYNC_USER}"
password = "${SYNC_PASS:-fallback}"
requests = 2

[[sync]]
name = "app"
source = "127.0.0.1:5999/src/app"
target = "ocidir://out"
tags.allow = ["v1\\\\..*"]
tags.newest = 2

[[sync]]
source = "127.0.0.1:5999/src/app:v1"
target = "ocidir://out2"
referrers = false
interval = "1h30m"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sync.toml"
    path.write_text(text)
    return path


def test_a_good_config_loads_with_defaults_inherited(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD), environ={"SYNC_USER": "bob"})
    assert (config.parallel, config.host_requests) == (3, 5)
    host = config.hosts["127.0.0.1:5999"]
    assert (host.user, host.password, host.requests) == ("bob", "fallback", 2)
    first, second = config.entries
    # the tags table merges key by key: deny from the defaults, allow and newest from the entry
    assert first.tags == TagRules(allow=(r"v1\..*",), deny=(".*-rc.*",), newest=2)
    assert first.referrers and not second.referrers  # the entry's own key wins
    assert first.backup == second.backup == "{tag}-old-{date}"
    assert second.interval == 5400.0
    assert first.key == "sync[0] (app)" and second.key == "sync[1]"


def test_env_expansion_forms() -> None:
    env = {"A": "x", "EMPTY": ""}
    assert expand({"k": ["${A}/$${A}", "${EMPTY:-d}", "${MISSING:-}"]}, env) == {
        "k": ["x/${A}", "d", ""]
    }


BAD = [
    ('[[sync]]\nsource = "a/b"\ntarget = "c/d"\nbogus = 1\n', "sync[0].bogus", "unknown key"),
    ('[[sync]]\nsource = "a/b"\ntarget = "c/d"\ntags.newest = 0\n', "sync[0].tags.newest", "0"),
    (
        '[[sync]]\nsource = "a/b"\ntarget = "c/d"\n[[sync]]\nsource = "a/b"\ntarget = "c/e"\n'
        'tags.allow = ["v(1"]\n',
        "sync[1].tags.allow[0]",
        "regular expression",
    ),
    (
        '[defaults]\ntags.semver = "at least 1.2"\n[[sync]]\nsource = "a/b"\ntarget = "c/d"\n',
        "defaults.tags.semver",
        "version range",
    ),
    (
        '[hosts."r.example"]\npassword = "${SYNC_NO_SUCH_VAR}"\n'
        '[[sync]]\nsource = "a/b"\ntarget = "c/d"\n',
        'hosts."r.example".password',
        "SYNC_NO_SUCH_VAR is not set",
    ),
    (
        '[defaults]\nparallel = "four"\n[[sync]]\nsource = "a/b"\ntarget = "c/d"\n',
        "defaults.parallel",
        "'four'",
    ),
    ('[[sync]]\nsource = "a/b"\n', "sync[0]", "'target' is a required property"),
    ('[[sync]]\nsource = "a/b"\ntarget = "c/d"\ntype = "all"\n', "sync[0].type", "'all'"),
    (
        '[[sync]]\nsource = "a/b"\ntarget = "c/d"\nplatforms = ["linux/"]\n',
        "sync[0].platforms[0]",
        "linux/",
    ),
    (
        '[[sync]]\nsource = "a/b"\ntarget = "c/d"\nbackup = "{tag}-{when}"\n',
        "sync[0].backup",
        "backup template",
    ),
    ('[[sync]]\nsource = "a/b"\ntarget = "c/d"\ninterval = "soon"\n', "sync[0].interval", "soon"),
    ('[hosts."h:1"]\nrequests = 0\n[[sync]]\nsource = "a"\ntarget = "b"\n', "requests", "0"),
    ("sync = []\n", "sync", "should be non-empty"),
]


@pytest.mark.parametrize(("text", "key", "needle"), BAD, ids=[b[1] for b in BAD])
def test_invalid_configs_name_the_key(tmp_path: Path, text: str, key: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.key is not None and key in caught.value.key
    assert needle in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")


def test_cli_reports_an_invalid_config_on_one_line_before_copying(tmp_path: Path) -> None:
    path = _write(tmp_path, BAD[1][0])
    result = run("sync", "run", path, expect=1)
    assert_one_line_error(result, f"{path}: sync[0].tags.newest:")


def test_reference_errors_name_the_entry(tmp_path: Path) -> None:
    cases = [
        ('[[sync]]\nsource = "Bad//Ref"\ntarget = "ocidir://x"\n', "sync[0].source"),
        (
            '[[sync]]\nsource = "ocidir://a"\ntarget = "ocidir://b:v1"\ntype = "repository"\n',
            "sync[0].target",
        ),
    ]
    for text, key in cases:
        result = run("sync", "check", _write(tmp_path, text), expect=1)
        assert_one_line_error(result, key)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(run("sync", "run", _write(tmp_path, "[[sync]\n"), expect=1), "TOML")
    missing = run("sync", "run", tmp_path / "nope.toml", expect=2)
    assert "nope.toml not found" in missing.stderr


def test_duration() -> None:
    assert parse_duration("90s") == 90 and parse_duration("1d2h") == 93600
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("1h 2m")


# -- tag filters --------------------------------------------------------------------------------
TAGS = ["latest", "1.0", "1.1", "1.2", "1.10", "v2.0.0", "2.1-rc1", "1.2-alpine", "sha256-ab.sig"]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (TagRules(), sorted(TAGS)),
        (TagRules(allow=(r"1\..*",)), ["1.0", "1.1", "1.10", "1.2", "1.2-alpine"]),
        (TagRules(allow=(r"1\..*",), deny=(".*-alpine",)), ["1.0", "1.1", "1.10", "1.2"]),
        # allow patterns are anchored: "1" alone matches no tag
        (TagRules(allow=("1",)), []),
        (TagRules(semver=">=1.2"), ["1.10", "1.2", "v2.0.0"]),
        (TagRules(semver=">=1.1,<2"), ["1.1", "1.10", "1.2"]),
        # pre-releases only when the range names one
        (TagRules(newest=2), ["1.10", "v2.0.0"]),
        (TagRules(semver=">=2.1rc1"), ["2.1-rc1"]),
        (TagRules(semver="<2", newest=2), ["1.10", "1.2"]),
        (TagRules(deny=(r"v.*", r".*rc.*"), newest=1), ["1.10"]),
    ],
)
def test_tag_filter(rules: TagRules, expected: list[str]) -> None:
    assert TagFilter(rules).select(TAGS) == expected


# -- shards -------------------------------------------------------------------------------------
def test_shards_are_a_partition_and_stable() -> None:
    keys = [f"127.0.0.1:5000/mirror/app-{i}:v{j}" for i in range(40) for j in range(5)]
    parts = [[k for k in keys if Shard(i, 3).owns(k)] for i in (1, 2, 3)]
    assert sorted(k for p in parts for k in p) == sorted(keys)  # every key exactly once
    assert all(len(p) > 30 for p in parts)  # and spread, not all in one shard
    # a key's shard does not depend on which other keys exist
    assert [k for k in keys[:7] if Shard(2, 3).owns(k)] == [k for k in parts[1] if k in keys[:7]]
    assert Shard.parse(" 2/3 ") == Shard(2, 3)
    for bad in ("0/3", "4/3", "1/0", "x", "1-3"):
        with pytest.raises(ValueError, match="K/N"):
            Shard.parse(bad)


def test_bad_shard_is_a_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[sync]]\nsource = "ocidir://a:v1"\ntarget = "ocidir://b"\n')
    result = run("sync", "check", path, "--shard", "4/3", expect=2)
    assert "--shard" in result.stderr


def test_from_dict_without_env_keeps_dollars() -> None:
    config = SyncConfig.from_dict(
        {"sync": [{"source": "a", "target": "b", "tags": {"allow": ["v$${X}"]}}]},
        expand_env=False,
    )
    assert config.entries[0].tags.allow == ("v$${X}",)
