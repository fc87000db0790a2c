"""A scheme bug (an exception outside ocistore.errors) in a copy is reported with the scheme's
name, the exception's type and where it was raised; with -v the CLI prints its traceback."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from ocistore.blob import RawStream
from ocistore.cli.errors import report
from ocistore.client import Client
from ocistore.digest import Digest
from ocistore.errors import CopyError
from ocistore.hookspecs import hookimpl
from ocistore.plugins import SchemeRegistry
from ocistore.ref import Ref, parse_path_reference
from ocistore.router import Router
from ocistore.scheme import SchemeSpec
from ocistore.testing.content import oci_image, push
from ocistore.testing.memory import MemoryPlugin, MemoryScheme


class BuggyScheme(MemoryScheme):
    name = "buggy"

    def blob_put(
        self, ref: Ref, digest: Digest | None, reader: RawStream, length: int | None
    ) -> tuple[Digest, int]:
        columns: dict[str, int] = {}
        return digest or Digest.from_bytes(b""), columns["size"]  # the plugin's bug


class BuggyPlugin:
    @hookimpl
    def ocistore_add_schemes(self, registry: SchemeRegistry) -> None:
        registry.add(SchemeSpec("buggy", lambda t: parse_path_reference("buggy", t), BuggyScheme))


@pytest.fixture
def client() -> Iterator[Client]:
    MemoryScheme.reset()
    router = Router(plugins=[("memory", MemoryPlugin()), ("buggy", BuggyPlugin())], autoload=False)
    yield Client(router=router)
    MemoryScheme.reset()


def _failed_copy(client: Client) -> CopyError:
    push(MemoryScheme(), client.parse("memory://src:v1"), oci_image("blamed", layers=1))
    with pytest.raises(CopyError) as info:
        client.image_copy("memory://src:v1", "buggy://dst:v1")
    return info.value


def test_a_plugin_bug_names_the_scheme_and_the_exception_type(client: Client) -> None:
    error = _failed_copy(client)
    message = str(error)
    assert "bug in the buggy scheme" in message
    assert "KeyError: 'size'" in message
    assert f"{__name__} line" in message
    assert isinstance(error.__cause__, KeyError)


def test_the_cli_shows_it_in_one_line_and_the_traceback_with_v(client: Client) -> None:
    error = _failed_copy(client)
    quiet, loud = io.StringIO(), io.StringIO()
    assert report(error, verbose=0, stream=quiet) == 1
    assert "KeyError: 'size'" in quiet.getvalue()
    assert "Traceback" not in quiet.getvalue()
    report(error, verbose=1, stream=loud)
    assert "Traceback" in loud.getvalue()
    assert 'columns["size"]' in loud.getvalue()  # the plugin's own line, from its traceback
