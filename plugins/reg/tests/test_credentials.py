"""Docker config.json and credential-helper lookups, with fake helpers on a temp PATH."""

from __future__ import annotations

import base64
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocistore.errors import AuthError
from ocistore.settings import HostConfig, Settings
from ocistore_reg import credentials
from ocistore_reg.credentials import (
    DOCKER_HUB_KEY,
    Credential,
    clear_helper_cache,
    config_path,
    credential_for_host,
    helper_list,
    lookup_credentials,
    normalize_server,
)

SECRET = "s3cr3t-Value!"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_helper_cache()
    yield
    clear_helper_cache()


class Home:
    """A temp HOME with a docker config dir and a bin dir for fake helpers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_dir = root / "docker"
        self.config_dir.mkdir()
        self.bin = root / "bin"
        self.bin.mkdir()
        self.calls = root / "calls.jsonl"
        self.env: dict[str, str] = {"PATH": str(self.bin), "HOME": str(root)}

    def write_config(self, data: dict[str, Any] | str) -> Path:
        path = self.config_dir / "config.json"
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    def lookup(self, host: str, **env: str) -> Credential | None:
        return lookup_credentials(host, config_dir=str(self.config_dir), env={**self.env, **env})

    def helper(self, name: str, store: dict[str, Any]) -> None:
        """Write ``docker-credential-<name>``.

        ``store`` maps server URL -> {"Username", "Secret"}; the special keys ``"!error"``
        (message printed on stdout with exit 1), ``"!stderr"`` (message on stderr only),
        ``"!garbage"`` (invalid JSON with exit 0) and ``"!list"`` (the list answer) change
        behaviour. Each call is appended to ``calls.jsonl``.
        """
        data = self.root / f"{name}.json"
        data.write_text(json.dumps(store))
        script = self.bin / f"docker-credential-{name}"
        script.write_text(
            f"""#!{sys.executable}
import json, sys
store = json.load(open({str(data)!r}))
action = sys.argv[1]
payload = sys.stdin.read()
with open({str(self.calls)!r}, "a") as log:
    log.write(json.dumps({{"helper": {name!r}, "action": action, "stdin": payload}}) + "\\n")
if "!error" in store:
    print(store["!error"]); sys.exit(1)
if "!stderr" in store:
    print(store["!stderr"], file=sys.stderr); sys.exit(3)
if "!garbage" in store:
    print("not json " + store["!garbage"]); sys.exit(0)
if action == "list":
    listed = store["!list"] if "!list" in store else {{k: v["Username"] for k, v in store.items()}}
    print(json.dumps(listed))
    sys.exit(0)
server = payload.strip()
if server not in store:
    print("credentials not found in native keychain\\n"); sys.exit(1)
entry = store[server]
print(json.dumps({{"ServerURL": server, "Username": entry["Username"], "Secret": entry["Secret"]}}))
"""
        )
        script.chmod(0o755)

    def helper_calls(self) -> list[dict[str, str]]:
        if not self.calls.exists():
            return []
        return [json.loads(line) for line in self.calls.read_text().splitlines()]


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


# -- config file location -------------------------------------------------------------------


def test_config_path_precedence(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "dc"), "HOME": str(tmp_path / "home")}
    assert config_path(config_dir=str(tmp_path / "x"), env=env) == tmp_path / "x" / "config.json"
    assert config_path(env=env) == tmp_path / "dc" / "config.json"
    assert config_path(env={"HOME": str(tmp_path / "home")}) == (
        tmp_path / "home" / ".docker" / "config.json"
    )


def test_docker_config_env_and_home(home: Home, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(
        json.dumps({"auths": {"reg.example": {"auth": b64("dc:" + SECRET)}}})
    )
    found = lookup_credentials("reg.example", env={**home.env, "DOCKER_CONFIG": str(other)})
    assert found is not None
    assert found.username == "dc"
    dot_docker = home.root / ".docker"
    dot_docker.mkdir()
    (dot_docker / "config.json").write_text(
        json.dumps({"auths": {"reg.example": {"auth": b64("homeuser:" + SECRET)}}})
    )
    found = lookup_credentials("reg.example", env=home.env)
    assert found is not None
    assert found.username == "homeuser"


def test_missing_file_means_none(home: Home) -> None:
    assert home.lookup("reg.example") is None


@pytest.mark.parametrize("text", ["", "  \n", "{}", '{"auths": {}}', '{"unknown": [1, 2]}'])
def test_empty_or_irrelevant_config(home: Home, text: str) -> None:
    home.write_config(text)
    assert home.lookup("reg.example") is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "invalid JSON"),
        ("[]", "not a JSON object"),
        ('{"auths": []}', "'auths' is not a JSON object"),
        ('{"auths": {"reg.example": "x"}}', "is not an object"),
        ('{"credsStore": 5}', "'credsStore' is not a string"),
    ],
)
def test_malformed_config_names_the_file(home: Home, text: str, fragment: str) -> None:
    path = home.write_config(text)
    with pytest.raises(AuthError) as info:
        home.lookup("reg.example")
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


# -- auths entries --------------------------------------------------------------------------

ENTRY_CASES: list[tuple[str, dict[str, Any], Credential | None]] = [
    ("auth", {"auth": b64("alice:" + SECRET)}, Credential("alice", SECRET)),
    ("first colon splits", {"auth": b64("alice:pa:ss:word")}, Credential("alice", "pa:ss:word")),
    ("NULs trimmed", {"auth": b64("alice:pw\x00\x00")}, Credential("alice", "pw")),
    ("empty password", {"auth": b64("alice:")}, Credential("alice", "")),
    ("unpadded base64", {"auth": b64("bob:abcd").rstrip("=")}, Credential("bob", "abcd")),
    (
        "auth wins over fields",
        {"auth": b64("alice:" + SECRET), "username": "bob", "password": "other"},
        Credential("alice", SECRET),
    ),
    ("fields", {"username": "bob", "password": SECRET}, Credential("bob", SECRET)),
    (
        "empty auth uses fields",
        {"auth": "", "username": "bob", "password": "x"},
        Credential("bob", "x"),
    ),
    ("identity token", {"identitytoken": "idt"}, Credential(identity_token="idt")),
    (
        "username + identity token",
        {"username": "bob", "identitytoken": "idt"},
        Credential(username="bob", identity_token="idt"),
    ),
    ("registry token", {"registrytoken": "rt"}, Credential(registry_token="rt")),
    ("empty entry", {}, None),
    ("username only", {"username": "bob", "email": "b@example.com"}, None),
    ("serveraddress only", {"serveraddress": "reg.example"}, None),
]


@pytest.mark.parametrize(
    ("label", "entry", "expected"), ENTRY_CASES, ids=[c[0] for c in ENTRY_CASES]
)
def test_auth_entries(
    home: Home, label: str, entry: dict[str, Any], expected: Credential | None
) -> None:
    home.write_config({"auths": {"reg.example:5000": entry}})
    assert home.lookup("reg.example:5000") == expected, label


@pytest.mark.parametrize(
    ("auth", "fragment"),
    [
        ("!!!not-base64!!!", "not base64"),
        (b64("no-colon-here"), "no username"),
        (b64(":" + SECRET), "no username"),
        (base64.b64encode(b"\xff\xfe:x").decode(), "not base64"),
    ],
)
def test_bad_auth_value(home: Home, auth: str, fragment: str) -> None:
    path = home.write_config({"auths": {"reg.example": {"auth": auth}}})
    with pytest.raises(AuthError) as info:
        home.lookup("reg.example")
    message = str(info.value)
    assert fragment in message
    assert "invalid auth configuration file" in message
    assert str(path) in message
    assert SECRET not in message
    assert auth not in message


@pytest.mark.parametrize(
    "key",
    [
        "https://reg.example:5000",
        "http://reg.example:5000",
        "https://reg.example:5000/v1/",
        "reg.example:5000/v2/",
        "REG.example:5000",
    ],
)
def test_legacy_keys_are_normalised(home: Home, key: str) -> None:
    home.write_config({"auths": {key: {"auth": b64("alice:" + SECRET)}}})
    assert home.lookup("reg.example:5000") == Credential("alice", SECRET)
    assert home.lookup("reg.example") is None  # the port is part of the key


def test_exact_key_beats_legacy_and_empty_entries_do_not_shadow(home: Home) -> None:
    home.write_config(
        {
            "auths": {
                "https://reg.example/v1/": {"auth": b64("legacy:x")},
                "reg.example": {"auth": b64("exact:y")},
                "other.example": {},
                "https://other.example": {"auth": b64("found:z")},
            }
        }
    )
    assert home.lookup("reg.example") == Credential("exact", "y")
    assert home.lookup("other.example") == Credential("found", "z")


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_key(home: Home, host: str) -> None:
    home.write_config({"auths": {DOCKER_HUB_KEY: {"auth": b64("hubuser:" + SECRET)}}})
    assert home.lookup(host) == Credential("hubuser", SECRET)


def test_normalize_server() -> None:
    assert normalize_server("https://Reg.Example:5000/v2/") == "reg.example:5000"
    assert normalize_server(DOCKER_HUB_KEY) == "index.docker.io"
    assert normalize_server("registry-1.docker.io") == "index.docker.io"
    assert normalize_server("localhost:5000") == "localhost:5000"


# -- DOCKER_AUTH_CONFIG ---------------------------------------------------------------------


def test_docker_auth_config_is_consulted_first(home: Home) -> None:
    home.write_config({"auths": {"reg.example": {"auth": b64("file:x")}}})
    inline = json.dumps({"auths": {"reg.example": {"auth": b64("env:y")}}})
    assert home.lookup("reg.example", DOCKER_AUTH_CONFIG=inline) == Credential("env", "y")


def test_docker_auth_config_falls_back_to_file(home: Home) -> None:
    home.write_config({"auths": {"reg.example": {"auth": b64("file:x")}}})
    inline = json.dumps({"auths": {"other.example": {"auth": b64("env:y")}, "reg.example": {}}})
    assert home.lookup("reg.example", DOCKER_AUTH_CONFIG=inline) == Credential("file", "x")
    assert home.lookup("reg.example", DOCKER_AUTH_CONFIG="  ") == Credential("file", "x")


def test_docker_auth_config_without_file(home: Home) -> None:
    inline = json.dumps({"auths": {"reg.example": {"username": "u", "password": "p"}}})
    assert home.lookup("reg.example", DOCKER_AUTH_CONFIG=inline) == Credential("u", "p")


def test_docker_auth_config_invalid(home: Home) -> None:
    with pytest.raises(AuthError, match="DOCKER_AUTH_CONFIG"):
        home.lookup("reg.example", DOCKER_AUTH_CONFIG="{oops")


def test_docker_auth_config_with_helper(home: Home) -> None:
    home.helper("envhelper", {"reg.example": {"Username": "h", "Secret": SECRET}})
    inline = json.dumps({"credHelpers": {"reg.example": "envhelper"}})
    assert home.lookup("reg.example", DOCKER_AUTH_CONFIG=inline) == Credential("h", SECRET)


# -- credential helpers ---------------------------------------------------------------------


def test_creds_store(home: Home) -> None:
    home.helper("xyz", {"reg.example:5000": {"Username": "alice", "Secret": SECRET}})
    home.write_config({"credsStore": "xyz", "auths": {"reg.example:5000": {}}})
    assert home.lookup("reg.example:5000") == Credential("alice", SECRET)
    (call,) = home.helper_calls()
    assert call == {"helper": "xyz", "action": "get", "stdin": "reg.example:5000"}


def test_token_username_means_identity_token(home: Home) -> None:
    home.helper("xyz", {"reg.example": {"Username": "<token>", "Secret": "refresh-me"}})
    home.write_config({"credsStore": "xyz"})
    assert home.lookup("reg.example") == Credential(identity_token="refresh-me")


def test_hub_helper_gets_the_hub_key(home: Home) -> None:
    home.helper("xyz", {DOCKER_HUB_KEY: {"Username": "hub", "Secret": SECRET}})
    home.write_config({"credsStore": "xyz"})
    assert home.lookup("docker.io") == Credential("hub", SECRET)
    assert home.helper_calls()[0]["stdin"] == DOCKER_HUB_KEY


def test_not_found_falls_through_to_auths(home: Home) -> None:
    home.helper("xyz", {"!list": {}})
    home.write_config({"credsStore": "xyz", "auths": {"reg.example": {"auth": b64("plain:x")}}})
    assert home.lookup("reg.example") == Credential("plain", "x")


def test_not_found_everywhere_is_none(home: Home) -> None:
    home.helper("xyz", {})
    home.write_config({"credsStore": "xyz", "auths": {"reg.example": {}}})
    assert home.lookup("reg.example") is None


def test_cred_helpers_beat_creds_store_and_auths(home: Home) -> None:
    home.helper("specific", {"reg.example": {"Username": "specific", "Secret": "a"}})
    home.helper("general", {"reg.example": {"Username": "general", "Secret": "b"}})
    home.write_config(
        {
            "credHelpers": {"reg.example": "specific"},
            "credsStore": "general",
            "auths": {"reg.example": {"auth": b64("plain:c")}},
        }
    )
    assert home.lookup("reg.example") == Credential("specific", "a")
    assert [c["helper"] for c in home.helper_calls()] == ["specific"]


def test_cred_helpers_only_for_their_host(home: Home) -> None:
    home.helper("specific", {"other.example": {"Username": "specific", "Secret": "a"}})
    home.helper("general", {"reg.example": {"Username": "general", "Secret": "b"}})
    home.write_config({"credHelpers": {"other.example": "specific"}, "credsStore": "general"})
    assert home.lookup("reg.example") == Credential("general", "b")
    assert home.lookup("other.example") == Credential("specific", "a")


def test_cred_helper_not_found_falls_back_to_store(home: Home) -> None:
    home.helper("specific", {})
    home.helper("general", {"reg.example": {"Username": "general", "Secret": "b"}})
    home.write_config({"credHelpers": {"reg.example": "specific"}, "credsStore": "general"})
    assert home.lookup("reg.example") == Credential("general", "b")


def test_creds_store_list_finds_other_spelling(home: Home) -> None:
    home.helper("desktop", {"https://reg.example": {"Username": "alice", "Secret": SECRET}})
    home.write_config({"credsStore": "desktop"})
    assert home.lookup("reg.example") == Credential("alice", SECRET)
    calls = [(c["action"], c["stdin"]) for c in home.helper_calls()]
    assert calls == [("get", "reg.example"), ("list", "unused"), ("get", "https://reg.example")]


def test_helper_list(home: Home) -> None:
    home.helper("xyz", {"a.example": {"Username": "u1", "Secret": "x"}})
    assert helper_list("xyz", env=home.env) == {"a.example": "u1"}


def test_helper_error_is_reported_with_its_message(home: Home) -> None:
    home.helper("xyz", {"!error": "the keychain is locked"})
    home.write_config({"credsStore": "xyz"})
    with pytest.raises(AuthError) as info:
        home.lookup("reg.example")
    message = str(info.value)
    assert "docker-credential-xyz" in message
    assert "the keychain is locked" in message
    assert "reg.example" in message


def test_helper_error_message_from_stderr_when_stdout_is_empty(home: Home) -> None:
    home.helper("xyz", {"!stderr": "broken helper"})
    home.write_config({"credHelpers": {"reg.example": "xyz"}})
    with pytest.raises(AuthError, match="broken helper"):
        home.lookup("reg.example")


def test_helper_garbage_output_is_not_quoted(home: Home) -> None:
    home.helper("xyz", {"!garbage": SECRET})
    home.write_config({"credsStore": "xyz"})
    with pytest.raises(AuthError) as info:
        home.lookup("reg.example")
    assert "invalid JSON" in str(info.value)
    assert SECRET not in str(info.value)


def test_missing_helper(home: Home) -> None:
    home.write_config({"credsStore": "nothere"})
    with pytest.raises(AuthError, match="docker-credential-nothere not found"):
        home.lookup("reg.example")


def test_helper_results_are_cached(home: Home) -> None:
    home.helper("xyz", {"reg.example": {"Username": "alice", "Secret": SECRET}})
    home.write_config({"credsStore": "xyz"})
    for _ in range(3):
        assert home.lookup("reg.example") == Credential("alice", SECRET)
    assert len(home.helper_calls()) == 1
    clear_helper_cache()
    home.lookup("reg.example")
    assert len(home.helper_calls()) == 2


def test_not_found_is_cached_too(home: Home) -> None:
    home.helper("xyz", {"!list": {}})
    home.write_config({"credsStore": "xyz"})
    assert home.lookup("reg.example") is None
    assert home.lookup("reg.example") is None
    assert [c["action"] for c in home.helper_calls()] == ["get", "list"]


def test_errors_are_not_cached(home: Home) -> None:
    home.helper("xyz", {"!error": "try again"})
    home.write_config({"credsStore": "xyz"})
    for _ in range(2):
        with pytest.raises(AuthError):
            home.lookup("reg.example")
    assert len(home.helper_calls()) == 2


def test_helper_cache_is_thread_safe(home: Home) -> None:
    home.helper("xyz", {"reg.example": {"Username": "alice", "Secret": SECRET}})
    home.write_config({"credsStore": "xyz"})
    results: list[Credential | None] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        results.append(home.lookup("reg.example"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [Credential("alice", SECRET)] * 8
    assert len(home.helper_calls()) == 1


# -- Credential -----------------------------------------------------------------------------


def test_repr_hides_secrets() -> None:
    cred = Credential("alice", SECRET, "idt-" + SECRET, "rt-" + SECRET)
    for text in (repr(cred), str(cred), f"{cred}", repr([cred])):
        assert SECRET not in text
        assert "alice" in text
    assert repr(Credential()) == (
        "Credential(username=None, password=None, identity_token=None, registry_token=None)"
    )


def test_credential_properties() -> None:
    assert Credential("a", "b").has_basic
    assert Credential("a", "").has_basic
    assert not Credential("a").has_basic
    assert not Credential(password="b").has_basic
    assert Credential().is_empty
    assert Credential("a").is_empty
    assert not Credential(registry_token="r").is_empty


def test_credential_for_host(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(home.config_dir))
    monkeypatch.delenv("DOCKER_AUTH_CONFIG", raising=False)
    home.write_config({"auths": {"reg.example": {"auth": b64("file:x")}}})
    settings = Settings()
    assert credential_for_host(settings, "reg.example") == Credential("file", "x")
    explicit = settings.with_host(HostConfig("reg.example", username="cli", password="y"))
    assert credential_for_host(explicit, "reg.example") == Credential("cli", "y")
    no_docker = Settings(docker_config=False)
    assert credential_for_host(no_docker, "reg.example") is None


def test_module_exports() -> None:
    for name in credentials.__all__:
        assert hasattr(credentials, name)
