"""The shipped example plugin (ocistore.testing.example) passes the whole conformance kit, run
exactly as CONTRIBUTING.md's guide shows it (the guide's block is checked to be this file's)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ocistore.digest import Digest
from ocistore.ref import Ref
from ocistore.testing.conformance import SchemeConformance
from ocistore.testing.example import ExampleScheme, parse

ROOT = Path(__file__).resolve().parents[2]


# --- guide: kit ---
class FileTamper:
    """Changes stored bytes behind the scheme's back, to prove that reads verify."""

    def blob(self, ref: Ref, digest: Digest, data: bytes) -> None:
        (Path(ref.path) / "blobs" / digest.algorithm / digest.encoded).write_bytes(data)

    def manifest(self, ref: Ref, digest: Digest, raw: bytes) -> None:
        (Path(ref.path) / "manifests" / digest.algorithm / digest.encoded).write_bytes(raw)


class TestExampleScheme(SchemeConformance):
    @pytest.fixture
    def scheme_factory(self) -> type[ExampleScheme]:
        return ExampleScheme  # picklable: Settings -> scheme

    @pytest.fixture
    def new_repo(self, tmp_path: Path) -> Callable[[], Ref]:
        counter = itertools.count()
        return lambda: parse(f"example://{tmp_path}/repo{next(counter)}")

    @pytest.fixture
    def tamper(self) -> FileTamper:
        return FileTamper()


# --- end guide ---


def test_the_guide_shows_this_file() -> None:
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    shown = re.search(r"<!-- kit example -->\n```python\n(.*?)```", guide, re.DOTALL)
    assert shown is not None, "CONTRIBUTING.md lost its kit example"
    here = Path(__file__).read_text()
    ours = here.split("# --- guide: kit ---\n", 1)[1].split("\n\n# --- end guide ---", 1)[0]
    assert shown.group(1).strip() in here
    assert ours.strip() in shown.group(1)


def test_help_documents_the_example() -> None:
    import pydoc

    import ocistore.testing.example as example

    text = pydoc.render_doc(example, renderer=pydoc.plaintext)
    assert "example://DIR" in text
    assert "ExampleScheme" in text
