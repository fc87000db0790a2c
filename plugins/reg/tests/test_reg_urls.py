"""Pure URL and header helpers, table-tested."""

from __future__ import annotations

import pytest
from regfakes import Harness, Reply

from ocistore.errors import RegistryError
from ocistore_reg.urls import (
    add_query,
    is_local_host,
    next_link,
    origin,
    parse_content_range,
    parse_upload_range,
    redact,
    resolve,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://r/v2/a/blobs/uploads/u", "http://r/v2/a/blobs/uploads/u?digest=sha256:ab"),
        (
            "http://r/v2/a/blobs/uploads/u?_state=x%3D%3D",
            "http://r/v2/a/blobs/uploads/u?_state=x%3D%3D&digest=sha256:ab",
        ),
        ("http://r/u?a=1#frag", "http://r/u?a=1&digest=sha256:ab"),
    ],
)
def test_add_query_keeps_the_servers_query_untouched(url: str, expected: str) -> None:
    assert add_query(url, digest="sha256:ab") == expected


def test_add_query_encodes_values() -> None:
    assert add_query("http://r/x", {"last": "a b", "n": 5}) == "http://r/x?last=a%20b&n=5"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('</v2/a/tags/list?last=x&n=2>; rel="next"', "https://r/v2/a/tags/list?last=x&n=2"),
        ("<https://other/p?x=1>; rel=next", "https://other/p?x=1"),
        ('<?page=2>; rel="next"', "https://r/v2/a/tags/list?page=2"),
        ('</a>; rel="prev", </b>; rel="next"', "https://r/b"),
        ('</a>; title="x, y"; rel="prev next"', "https://r/a"),
        ('</a>; rel="prev"', None),
        ("", None),
    ],
)
def test_next_link(header: str, expected: str | None) -> None:
    assert next_link({"Link": header}, "https://r/v2/a/tags/list?n=2") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0-99", 99), ("bytes=0-99", 99), ("0-0", 0), (" 0-5 ", 5), ("garbage", None), (None, None)],
)
def test_upload_range_in_both_spellings(value: str | None, expected: int | None) -> None:
    assert parse_upload_range(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes 10-99/100", (10, 99, 100)),
        ("bytes 10-99/*", (10, 99, None)),
        ("10-99/100", None),
        (None, None),
    ],
)
def test_content_range(value: str | None, expected: tuple[int, int, int | None] | None) -> None:
    assert parse_content_range(value) == expected


def test_origins_compare_scheme_host_and_effective_port() -> None:
    assert origin("https://Reg.Example:443/v2/") == ("https", "reg.example")
    assert origin("http://reg.example:5000/x") == ("http", "reg.example:5000")
    assert origin("http://[::1]:5000/x") == ("http", "[::1]:5000")
    assert origin("https://r/x") != origin("http://r/x")


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:5000/", True),
        ("http://localhost/", True),
        ("http://[::1]/", True),
        ("http://169.254.169.254/latest/meta-data", True),
        ("https://s3.amazonaws.com/bucket", False),
        ("https://10.0.0.1/", False),
    ],
)
def test_local_hosts(url: str, local: bool) -> None:
    assert is_local_host(url) is local


def test_redirects_from_remote_to_local_addresses_are_refused(harness: Harness) -> None:
    t = harness.reg.transport(harness.ref("a"))
    with pytest.raises(RegistryError, match="local address"):
        t._check_redirect("https://registry.example.com/v2/", "https://169.254.169.254/x", 307)
    with pytest.raises(RegistryError, match="refusing redirect"):
        t._check_redirect("http://r/v2/", "file:///etc/passwd", 302)
    t._check_redirect("http://127.0.0.1:1/v2/", "http://localhost:2/x", 307)  # local to local


def test_messages_never_show_query_strings() -> None:
    assert redact("https://s3/x?X-Amz-Signature=secret") == "https://s3/x?…"
    assert resolve("https://r/v2/a/blobs/uploads/", "../b?x=1") == "https://r/v2/a/blobs/b?x=1"


def test_a_dropped_connection_on_a_get_is_retried(harness: Harness) -> None:
    harness.fake.inject("GET", "^/v2/$", Reply(0, drop=True))
    harness.reg.ping(harness.ref("a"))
    assert len(harness.fake.seen("GET", "^/v2/$")) == 2
    assert len(harness.sleeps) == 1
