"""Per-host command-line flags become the Settings the schemes see (no server needed)."""

from __future__ import annotations

import pytest

from ocistore.cli import build_parser
from ocistore.cli.errors import UsageError
from ocistore.cli.options import build_settings, merge_globals


def settings_for(*argv: str, registries: tuple[str, ...] = (), password: str | None = None):  # type: ignore[no-untyped-def]
    opts = merge_globals(build_parser().parse_args(list(argv)))
    return build_settings(opts, registries, password)


def test_plain_http_insecure_and_ca_file_per_host() -> None:
    s = settings_for(
        "--plain-http",
        "plain.example:5000",
        "--insecure",
        "selfsigned.example",
        "--ca-file",
        "127.0.0.1:5443=/tmp/ca.pem",
        "tag",
        "ls",
        "plain.example:5000/repo",
    )
    assert s.host("plain.example:5000").tls == "disabled"
    assert s.host("selfsigned.example").tls == "insecure"
    # a CA file means TLS even for a loopback host, which would default to plain HTTP
    ca = s.host("127.0.0.1:5443")
    assert (ca.tls, ca.ca_file) == ("enabled", "/tmp/ca.pem")
    # hosts not named keep the safe defaults
    assert s.host("registry.example.com").tls == "enabled"
    assert s.host("localhost:5000").tls == "disabled"


def test_flags_work_after_the_verb_too() -> None:
    s = settings_for("tag", "ls", "h.example/r", "--plain-http", "h.example")
    assert s.host("h.example").tls == "disabled"


def test_credentials_go_only_to_the_registries_of_the_command() -> None:
    s = settings_for(
        "--user",
        "bob",
        "--password-stdin",
        "tag",
        "ls",
        "a.example/r",
        registries=("a.example",),
        password="s3cret",
    )
    assert (s.host("a.example").username, s.host("a.example").password) == ("bob", "s3cret")
    assert s.host("b.example").username is None


def test_concurrency_reaches_settings_and_hosts() -> None:
    s = settings_for("--concurrency", "7", "--insecure", "x.example", "tag", "ls", "x.example/r")
    assert s.concurrency == 7
    assert s.host("x.example").concurrency == 7


def test_insecure_and_plain_http_for_one_host_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"--insecure and --plain-http both given for h\.example"):
        settings_for(
            "--insecure", "h.example", "--plain-http", "h.example", "tag", "ls", "h.example/r"
        )


def test_no_docker_config_switch() -> None:
    assert settings_for("--no-docker-config", "tag", "ls", "x.example/r").docker_config is False
    assert settings_for("tag", "ls", "x.example/r").docker_config is True


def test_client_cert_per_host_means_tls() -> None:
    s = settings_for(
        "--client-cert",
        "127.0.0.1:5443=/c/cert.pem,/c/key.pem",
        "--client-cert",
        "r.example=/c/both.pem",
        "tag",
        "ls",
        "r.example/x",
    )
    loop = s.host("127.0.0.1:5443")
    assert (loop.client_cert, loop.client_key, loop.tls) == ("/c/cert.pem", "/c/key.pem", "enabled")
    other = s.host("r.example")
    assert (other.client_cert, other.client_key, other.tls) == ("/c/both.pem", None, "enabled")


@pytest.mark.parametrize("bad", ["hostonly", "h.example=", "=cert.pem"])
def test_client_cert_argument_errors(bad: str) -> None:
    with pytest.raises(SystemExit):
        settings_for("--client-cert", bad, "tag", "ls", "x.example/r")
