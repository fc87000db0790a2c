"""``ocistore scheme new NAME``: write a pip-installable scheme plugin skeleton.

The skeleton is the guide's steps 1-4 (CONTRIBUTING.md, "Writing a scheme plugin") already
done: an entry point, a light registration module, a ``SchemeBase`` subclass that implements
nothing yet, and a conformance test of the kit's ``UnsupportedTests``, which it passes as
written, so an author starts from green and adds kit classes as operations arrive.
"""

from __future__ import annotations

import re
from pathlib import Path

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from ocistore.cli.context import Context

__all__ = ["cmd_scheme_new", "write_skeleton"]

_NAME = re.compile(r"^[a-z][a-z0-9]{0,30}$")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "ocistore-{name}"
version = "0.1.0"
description = "{name}:// references for ocistore"
requires-python = ">=3.11"
dependencies = ["ocistore"]

[project.optional-dependencies]
test = ["ocistore[testing]"]

[project.entry-points."ocistore.plugins"]
{name} = "ocistore_{name}.plugin"

[tool.setuptools.package-data]
ocistore_{name} = ["py.typed"]
"""

_PLUGIN = '''\
"""Registers the {name} scheme. Kept light: the implementation is imported on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocistore.hookspecs import hookimpl
from ocistore.ref import Ref, parse_path_reference
from ocistore.scheme import SchemeSpec

if TYPE_CHECKING:
    from ocistore.plugins import SchemeRegistry
    from ocistore.scheme import Scheme
    from ocistore.settings import Settings

__all__ = ["factory", "ocistore_add_schemes", "parse"]


def parse(text: str) -> Ref:
    """``{name}://PATH[:tag][@digest]``: pure, and ``str(ref)`` parses back equal."""
    return parse_path_reference("{name}", text)


def factory(settings: Settings) -> Scheme:
    from ocistore_{name}.scheme import {cls}

    return {cls}(settings)


@hookimpl
def ocistore_add_schemes(registry: SchemeRegistry) -> None:
    registry.add(SchemeSpec("{name}", parse, factory, description="{name} storage"))
'''

_SCHEME = '''\
"""The {name} scheme. Every operation not written yet raises UnsupportedError (SchemeBase);
see CONTRIBUTING.md of ocistore, "Writing a scheme plugin", and ocistore.testing.example."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocistore.scheme import SchemeBase, SchemeInfo

if TYPE_CHECKING:
    from ocistore.settings import Settings

__all__ = ["{cls}"]


class {cls}(SchemeBase):
    name = "{name}"

    def __init__(self, settings: Settings | None = None) -> None:
        known: tuple[str, ...] = ()  # the option names this scheme reads
        self.options = settings.scheme_options(self.name, known=known) if settings else {{}}

    def info(self) -> SchemeInfo:
        return SchemeInfo()  # declare each ability as you implement it
'''

_TEST = '''\
"""The conformance kit. Add BlobTests, ManifestTests, TagTests, ReferrersTests, CloseTests
and ConcurrencyTests (or all: SchemeConformance) as the scheme grows."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from ocistore.ref import Ref
from ocistore.testing.conformance import UnsupportedTests
from ocistore_{name}.plugin import parse
from ocistore_{name}.scheme import {cls}


class Test{cls}(UnsupportedTests):
    @pytest.fixture
    def scheme_factory(self) -> type[{cls}]:
        return {cls}

    @pytest.fixture
    def new_repo(self, tmp_path: Path) -> Callable[[], Ref]:
        counter = itertools.count()
        return lambda: parse(f"{name}://{{tmp_path}}/repo{{next(counter)}}")
'''

_README = """\
# ocistore-{name}

A scheme plugin for ocistore: `{name}://PATH[:tag][@digest]`.

    pip install -e .[test]
    ocistore scheme list        # lists {name}
    python -m pytest tests      # the conformance kit
"""


def write_skeleton(name: str, parent: Path) -> Path:
    """Write ``parent/ocistore-NAME`` and return it; refuses a bad name or an existing path."""
    from ocistore.cli.errors import UsageError

    if not _NAME.match(name):
        raise UsageError(
            f"invalid scheme name {name!r}: a lowercase letter, then lowercase letters or digits"
        )
    root = parent / f"ocistore-{name}"
    if root.exists():
        raise UsageError(f"{root} already exists", hint="choose another name or directory")
    cls = name.capitalize() + "Scheme"
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/ocistore_{name}/__init__.py": '"""The {name} scheme plugin."""\n',
        f"src/ocistore_{name}/py.typed": "",
        f"src/ocistore_{name}/plugin.py": _PLUGIN,
        f"src/ocistore_{name}/scheme.py": _SCHEME,
        f"tests/test_{name}_conformance.py": _TEST,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(name=name, cls=cls))
    return root


def cmd_scheme_new(ctx: Context) -> None:
    a = ctx.args
    root = write_skeleton(a.name, Path(a.directory))
    ctx.out.data(
        {"scheme": a.name, "path": str(root)},
        f"wrote {root}\nnext: pip install -e '{root}[test]' && python -m pytest {root}/tests",
    )
