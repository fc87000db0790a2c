"""Start-up stays light: what each command imports, and that every shortcut behaves as before.

The command line runs as installed (the ``ocistore`` script next to the interpreter), and the
tests read ``sys.modules`` when it exits: they assert module sets, never times (the times are in
``benchmarks/startup.py``). The shortcuts that make start-up light are checked against what they
replace: the lazily built parser against its complete tree, the metadata reader of ``version``
against ``importlib_metadata``, the terminal width against ``shutil``, and the plain-Python
manifest check against ``jsonschema`` on thousands of mutated manifests.
"""

from __future__ import annotations

import copy
import email
import io
import json
import os
import random
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import importlib_metadata
import pytest

from ocistore import mediatype as mt
from ocistore.cli import build_parser, commands
from ocistore.cli.options import GlobalOptions
from ocistore.cli.parser import _Parser, build_all, terminal_columns
from ocistore.entrypoints import ENTRY_POINT_GROUP, dist_name_version, plain_headers
from ocistore.errors import ManifestInvalidError
from ocistore.testing import content
from ocistore.validation import (
    SCHEMA_NAMES,
    _field,
    _validator,
    certainly_valid,
    validate_document,
)
from tests.support.registry import RunningRegistry

OCISTORE = Path(sys.executable).with_name("ocistore")
HTTP_AND_TTY = ("requests", "urllib3", "rich")
VERB_MODULES = {f"ocistore.cli.{m}" for m in ("image", "manifest", "blob", "tag", "artifact")} | {
    "ocistore.cli.index",
    "ocistore.cli.info",
}


#: Runs the installed script as its own ``__main__`` (no runpy, which imports more) and writes
#: ``sys.modules`` at exit: argv is ``OUTFILE SCRIPT ARGS...``. ``sys.path[0]`` is the script's
#: directory, as when the script runs itself.
_DRIVER = """\
import atexit, os, sys
out, script = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[2:]
sys.path[0] = os.path.dirname(script)
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
with open(script) as f:
    code = compile(f.read(), script, "exec")
exec(code, {"__name__": "__main__", "__file__": script})
"""


#: The entry-point cache of these tests' commands (see :func:`warm_cache`).
CACHE_DIR: dict[str, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def warm_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Commands run as on a machine where ocistore has run before: the entry points are cached.

    A cold start (first run after an install) is pinned here and in tests/test_plugin_cache.py.
    """
    CACHE_DIR["path"] = path = tmp_path_factory.mktemp("entry-point-cache")
    mods = imported(["version"], path)
    assert "importlib_metadata" in mods, "the first start scans"
    assert list(path.glob("entry-points-*.json")), "and keeps what it found"


def imported(args: list[str], cwd: Path, *, expect: int = 0) -> set[str]:
    """Modules loaded by the installed ``ocistore ARGS`` by the time it exits."""
    assert OCISTORE.exists(), f"{OCISTORE} missing: run scripts/bootstrap"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCISTORE_")}
    env["DOCKER_CONFIG"] = str(cwd / ".docker")
    env["OCISTORE_CACHE_DIR"] = str(CACHE_DIR["path"])
    out = cwd / "modules.txt"
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(out), str(OCISTORE), *args],
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == expect, proc.stderr.decode()[-2000:]
    names = set(out.read_text().split())
    assert "ocistore.cli" in names, "the measurement works"
    return names


def loaded(mods: set[str], *packages: str) -> set[str]:
    return {m for m in mods if m in packages or m.split(".")[0] in packages}


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``ocidir://.../store:v1``: an OCI image with valid manifests, stored by the client."""
    from ocistore import Client

    path = tmp_path_factory.mktemp("startup") / "store"
    image = content.oci_image(7)
    with Client() as client:
        ref = client.parse(f"ocidir://{path}:v1")
        for digest, data in image.blobs.items():
            client.blob_put(ref, io.BytesIO(data), digest=digest, length=len(data))
        client.manifest_put(ref, image.manifest)
    return f"ocidir://{path}:v1"


# -- what each command imports ------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--help"], ["image", "--help"], ["image", "copy", "--help"]])
def test_help_imports_the_parser_only(args: list[str], tmp_path: Path) -> None:
    mods = imported(args, tmp_path)
    assert not loaded(mods, *HTTP_AND_TTY, "jsonschema", "pluggy", "importlib_metadata", "email")
    assert not mods & VERB_MODULES, "no verb implementation for help"
    assert not loaded(mods, "ocistore.client", "ocistore.router", "ocistore.plugins")
    assert not loaded(mods, "ocistore_reg", "ocistore_ocidir")
    # measured costs that --help no longer pays (see benchmarks/startup.py)
    assert not loaded(mods, "dataclasses", "shutil", "traceback", "json")


def test_version_reads_metadata_without_loading_plugins(tmp_path: Path) -> None:
    mods = imported(["version"], tmp_path)
    assert not loaded(
        mods, *HTTP_AND_TTY, "jsonschema", "pluggy", "ocistore_reg", "ocistore_ocidir"
    )
    assert not loaded(mods, "ocistore.plugins", "ocistore.router", "ocistore.client")
    assert "email.parser" not in mods, "Name/Version read without the email parser"
    assert "dataclasses" not in mods
    assert mods & VERB_MODULES == {"ocistore.cli.info"}


@pytest.mark.parametrize(
    ("args", "verb_module"),
    [
        (["image", "digest", "{ref}"], "image"),
        (["image", "inspect", "{ref}"], "image"),
        (["manifest", "get", "{ref}"], "manifest"),
        (["tag", "ls", "{repo}"], "tag"),
        (["image", "copy", "{ref}", "ocidir://{tmp}/copy:v1"], "image"),
    ],
)
def test_ocidir_verbs_import_no_http_rich_or_jsonschema(
    args: list[str], verb_module: str, layout: str, tmp_path: Path
) -> None:
    argv = [a.format(ref=layout, repo=layout.rsplit(":", 1)[0], tmp=tmp_path) for a in args]
    mods = imported(argv, tmp_path)
    assert "ocistore_ocidir.scheme" in mods
    leaked = loaded(mods, *HTTP_AND_TTY, "jsonschema")
    assert not leaked, f"{argv} imported {sorted(leaked)}"
    assert mods & VERB_MODULES == {f"ocistore.cli.{verb_module}"}
    # Reads never take the index lock, so they need not pay for importing filelock.
    writes = argv[:2] == ["image", "copy"]
    assert ("filelock" in mods) is writes, f"{argv}: filelock imported={'filelock' in mods}"


#: What a warm start must not pay for: the metadata scan (entry points come from the cache).
METADATA_SCAN = ("importlib_metadata", "zipp")
#: Imported by the reg plugin only where used: credential helpers run (subprocess), a tag is
#: deleted (uuid, which imports platform), the host platform is asked for (platform).
REG_LAZY = ("subprocess", "uuid", "platform")


@pytest.fixture(scope="module")
def registry_image(registry_anon: RunningRegistry) -> str:
    """``HOST/startup/app:v1`` (and three more tags) on the real registry."""
    from ocistore import Client

    image = content.oci_image(11)
    with Client() as client:
        ref = client.parse(f"{registry_anon.host}/startup/app:v1")
        for digest, data in image.blobs.items():
            client.blob_put(ref, io.BytesIO(data), digest=digest, length=len(data))
        for tag in ("v1", "v2", "v3", "latest"):
            client.manifest_put(ref.with_tag(tag), image.manifest)
    return f"{registry_anon.host}/startup/app:v1"


def test_a_warm_start_reads_no_distribution_metadata(layout: str, tmp_path: Path) -> None:
    for args in (["version"], ["image", "digest", layout], ["scheme", "list"]):
        mods = imported(args, tmp_path)
        assert not loaded(mods, *METADATA_SCAN), args
        if args[0] != "scheme":  # scheme list makes every scheme, the registry's too
            assert not loaded(mods, "email"), f"{args}: no email package without HTTP"


def test_tag_ls_of_a_registry_imports_requests_and_no_copy_layout_or_lock(
    registry_image: str, tmp_path: Path
) -> None:
    mods = imported(["tag", "ls", registry_image.rsplit(":", 1)[0]], tmp_path)
    assert "requests" in mods, "the measurement works: a registry was touched"
    leaked = loaded(mods, *METADATA_SCAN, *REG_LAZY, "jsonschema", "rich", "filelock")
    assert not leaked, sorted(leaked)
    assert "ocistore_ocidir.scheme" not in mods, "only the plugin's registration module"
    assert not loaded(mods, "ocistore.copy"), "listing tags is no copy"
    assert mods & VERB_MODULES == {"ocistore.cli.tag"}


def test_a_no_op_copy_registry_to_layout_takes_no_lock(registry_image: str, tmp_path: Path) -> None:
    """The second copy finds every blob and the manifest present: it writes nothing, so it
    neither imports filelock nor creates the index lock file."""
    target = f"ocidir://{tmp_path}/copy:v1"
    first = imported(["image", "copy", registry_image, target], tmp_path)
    assert "filelock" in first, "the measurement works: a copy that writes locks"
    (tmp_path / "copy" / ".ocistore-index.lock").unlink()
    again = imported(["image", "copy", registry_image, target], tmp_path)
    assert "requests" in again
    leaked = loaded(again, *METADATA_SCAN, *REG_LAZY, "jsonschema", "rich", "filelock")
    assert not leaked, sorted(leaked)
    assert not (tmp_path / "copy" / ".ocistore-index.lock").exists()


def test_an_invalid_manifest_still_gets_the_jsonschema_verdict(tmp_path: Path) -> None:
    doc = content.oci_image(1).manifest.data | {"layers": [{"mediaType": "a/b", "size": -1}]}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    mods = imported(
        ["manifest", "put", f"ocidir://{tmp_path}/store:bad", str(tmp_path / "bad.json")],
        tmp_path,
        expect=1,
    )
    assert "jsonschema" in mods


# -- regular expressions: compiled on first use -------------------------------------------------
_PATTERN_MODULES = (
    "ocistore.ref",
    "ocistore.digest",
    "ocistore_reg.urls",
    "ocistore_reg.translate",
    "ocistore_reg.tokenfetch",
    "ocistore_ocidir.index",
)


def test_importing_compiles_none_of_our_patterns() -> None:
    code = (
        "import importlib, json, sys; from ocistore.lazyre import LazyPattern\n"
        "found = {}\n"
        "for name in sys.argv[1:]:\n"
        "    for key, value in vars(importlib.import_module(name)).items():\n"
        "        items = value.items() if isinstance(value, dict) else [('', value)]\n"
        "        for sub, v in items:\n"
        "            if isinstance(v, LazyPattern):\n"
        "                found[f'{name}.{key}' + (f'[{sub}]' if sub else '')] = v._compiled is not None\n"
        "print(json.dumps(found))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *_PATTERN_MODULES], capture_output=True, text=True, check=True
    )
    found = json.loads(proc.stdout)
    assert len(found) >= 13, found
    # ocistore.digest builds EMPTY_DIGEST at import, which validates it: those two are used.
    used = {"ocistore.digest._GRAMMAR", "ocistore.digest._KNOWN[sha256]"}
    assert {k for k, v in found.items() if v} == used


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"^([a-z][a-z0-9+.-]*)://(.*)$", "ocidir://x:y"),
        (r"^([a-z][a-z0-9+.-]*)://(.*)$", "no scheme"),
        (r";\s*([a-zA-Z*]+)", '; rel="next"; type=x'),
        (r"(\.\d{6})\d+", "2026-12-04T21:00:00.123456789Z"),
    ],
)
def test_a_lazy_pattern_answers_as_the_compiled_one(pattern: str, text: str) -> None:
    import re

    from ocistore.lazyre import LazyPattern

    lazy, real = LazyPattern(pattern, re.DOTALL), re.compile(pattern, re.DOTALL)
    assert lazy._compiled is None
    pick = lambda m: m and (m.span(), m.groups())  # noqa: E731
    assert pick(lazy.match(text)) == pick(real.match(text))
    assert pick(lazy.search(text, 1)) == pick(real.search(text, 1))
    assert pick(lazy.fullmatch(text)) == pick(real.fullmatch(text))
    assert [pick(m) for m in lazy.finditer(text)] == [pick(m) for m in real.finditer(text)]
    assert lazy.findall(text) == real.findall(text)
    assert lazy.sub("-", text, 1) == real.sub("-", text, 1)
    assert lazy.split(text) == real.split(text)
    assert lazy.compiled is lazy.compiled


# -- the lazy parser ----------------------------------------------------------------------------
def _commands() -> list[tuple[list[str], commands.Command]]:
    out: list[tuple[list[str], commands.Command]] = []
    for entry in commands.COMMANDS:
        if isinstance(entry, commands.Group):
            out += [([entry.name, c.name], c) for c in entry.commands]
        else:
            out.append(([entry.name], entry))
    return out


@pytest.mark.parametrize(
    ("path", "command"), [pytest.param(p, c, id=" ".join(p)) for p, c in _commands()]
)
def test_every_handler_resolves(path: list[str], command: commands.Command) -> None:
    handler = command.lazy_handler().resolve()
    assert callable(handler)
    assert handler.__module__ == f"ocistore.cli.{command.handler.split(':')[0]}"


def test_only_the_chosen_command_is_built() -> None:
    parser = build_parser()
    args = parser.parse_args(["image", "digest", "ocidir://x"])
    assert args.handler.resolve().__name__ == "cmd_digest"
    built: list[str] = []
    pending: list[str] = []
    stack: list[Any] = [parser]
    while stack:
        p = stack.pop()
        (pending if p.pending is not None else built).append(p.prog)
        for act in p._actions:
            stack += dict.fromkeys(getattr(act, "_name_parser_map", {}).values())
    assert sorted(built) == ["ocistore", "ocistore image", "ocistore image digest"]
    assert "ocistore manifest" in pending
    assert "ocistore image copy" in pending


def test_the_complete_tree_has_every_command_and_alias() -> None:
    parser = build_all(build_parser())
    for path, command in _commands():
        p: Any = parser
        for name in path:
            (sub,) = [a for a in p._actions if hasattr(a, "_name_parser_map")]
            p = sub._name_parser_map[name]
            assert isinstance(p, _Parser)
            assert p.pending is None
        assert p.get_default("handler").function == command.handler.split(":")[1]
        assert p.description == (command.description or command.help)
        for alias in command.aliases:
            assert sub._name_parser_map[alias] is p


@pytest.mark.parametrize("columns", [None, "100", "37", "0", "-5", "wide", " 90 "])
@pytest.mark.parametrize("tty", [None, 0, 132, OSError])
def test_terminal_width_is_what_shutil_says(
    columns: str | None, tty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    if tty is OSError:

        def size(fd: int) -> os.terminal_size:
            raise OSError("not a terminal")

        monkeypatch.setattr(os, "get_terminal_size", size)
    elif tty is not None:
        monkeypatch.setattr(os, "get_terminal_size", lambda fd: os.terminal_size((tty, 24)))
    assert terminal_columns() == shutil.get_terminal_size().columns


def test_global_options_behave_like_the_dataclass_they_replace() -> None:
    a, b = GlobalOptions(), GlobalOptions()
    assert a == b
    a.insecure.append("h")
    assert b.insecure == [], "no shared default lists"
    assert a != b
    assert GlobalOptions(1, "json") == GlobalOptions(verbose=1, format="json")
    assert repr(GlobalOptions()) == (
        "GlobalOptions(verbose=0, format=None, platforms=[], concurrency=None, insecure=[], "
        "plain_http=[], ca_files=[], client_certs=[], user=None, password_stdin=False, "
        "docker_config=True)"
    )
    with pytest.raises(TypeError):
        hash(a)


# -- version: metadata without the email parser -------------------------------------------------
def test_every_installed_distribution_reads_as_importlib_metadata_does() -> None:
    dists = list(importlib_metadata.distributions())
    assert len(dists) > 10
    for dist in dists:
        try:
            expected: Any = (dist.name or "", dist.version or "")
        except Exception as e:  # the same failure, through the same attributes
            expected = type(e)
        try:
            got: Any = dist_name_version(dist)
        except Exception as e:
            got = type(e)
        assert got == expected, dist


def test_other_distributions_answer_through_their_attributes() -> None:
    class Custom:
        name = "custom-dist"
        version = "9"

        def read_text(self, filename: str) -> str:
            return "Name: not-this\nVersion: 0\n"

    assert dist_name_version(Custom()) == ("custom-dist", "9")
    assert dist_name_version(None) == ("", "")


@pytest.mark.parametrize(
    "text",
    [
        "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n\nName: body\n",
        "name: lower\nVERSION:   2.0  \n",
        "Name: first\nName: second\nVersion: 1\n",
        "Name:\nVersion: 0\n",
        "Version: 1\n",
        "Name: folded\n  continued\nVersion: 1\n",
        "Name: tab\tinside\nVersion: 1\n",
        "Name: caf\u00e9\nVersion: 1\n",
        "From someone\nName: x\nVersion: 1\n",
        "Name x\nVersion: 1\n",
        ": empty\nName: x\nVersion: 1\n",
        "Name: x\x0cVersion: 2\nVersion: 1\n",
        "Name: x\rVersion: 2\nVersion: 1\n",
        "Name: x\nBad Header: y\nVersion: 1\n",
        "Name: x\n   \nVersion: 1\n",
        "\nName: x\nVersion: 1\n",
        "Name: x\nVersion: 1",
    ],
)
def test_plain_headers_agree_with_the_email_parser(text: str) -> None:
    fields = plain_headers(text)
    if fields is None:
        return  # not plain: importlib_metadata decides, as before
    message = email.message_from_string(text)
    for name in ("Name", "Version", "Metadata-Version"):
        assert fields.get(name.lower()) == message[name]


def test_version_lists_what_importlib_metadata_lists(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(OCISTORE), "version", "--format", "json"],
        capture_output=True,
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    expected = sorted(
        (ep.name, ep.dist.name, ep.dist.version)
        for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
    )
    listed = [
        (p["plugin"], p["distribution"], p["version"]) for p in json.loads(proc.stdout)["plugins"]
    ]
    assert listed == expected
    assert {name for name, _, _ in listed} >= {"reg", "ocidir"}


# -- manifest validation: the plain-Python check never accepts what jsonschema rejects -----------
def _reference(name: str, doc: Any) -> str | None:
    """The verdict of jsonschema alone: validate_document's message before the fast path."""
    errors = sorted(_validator(name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    return f"invalid m: {_field(errors[0].absolute_path)}: {errors[0].message}"


def _verdict(name: str, doc: Any) -> str | None:
    try:
        validate_document(name, doc, what="m")
    except ManifestInvalidError as e:
        return str(e)
    return None


def _seeds() -> list[tuple[str, dict[str, Any]]]:
    amd, arm = content.oci_image(1), content.oci_image(2, platform="linux/arm64/v8", layers=3)
    dk = content.docker_image(3)
    art = content.artifact(amd.manifest.descriptor(), annotations={"k": "v"})
    idx = content.index_of([amd, arm], annotations={"org.example": "x"})
    full = copy.deepcopy(idx.manifest.data)
    full["manifests"][0]["platform"] |= {"os.version": "10", "os.features": ["a"], "features": []}
    full["manifests"][0] |= {"urls": ["not a uri, unchecked"], "artifactType": "a/b"}
    full["subject"] = amd.manifest.descriptor().to_dict()
    return [
        ("ociManifest", amd.manifest.data),
        ("ociManifest", arm.manifest.data),
        ("ociManifest", art.manifest.data),
        ("dockerManifest", dk.manifest.data),
        ("ociIndex", idx.manifest.data),
        ("ociIndex", full),
        ("dockerManifestList", content.docker_list([dk]).manifest.data),
        ("ociLayout", {"imageLayoutVersion": "1.0.0"}),
    ]


DIGEST = "sha256:" + "a" * 64
VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 2.0, 1.0, -0.0, 0.5, 10**30, -(10**30), float("nan"),
    float("inf"), Decimal("-1"), Decimal("2"), (1,), "", "x", "2", "a/b", "a/b\n", "/b", "a b/c",
    "a/b/c", "a" * 130 + "/b", mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST,
    mt.DOCKER_MANIFEST_LIST, DIGEST, DIGEST + "\n", "SHA256:abc", "sha256:", ":abc",
    "sha256+x.y_z-w:A=_-", "sha256:ab cd", [], {}, [1], ["x"], [DIGEST], {"a": 1}, {"a": "b"},
    {"os": "linux", "architecture": "amd64"}, {"os": "linux"},
    {"mediaType": "a/b", "digest": DIGEST, "size": 1},
    {"mediaType": "a/b", "digest": DIGEST, "size": -1},
]  # fmt: skip
KEYS = [
    "schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests", "subject",
    "annotations", "digest", "size", "urls", "data", "platform", "os", "architecture", "variant",
    "os.version", "os.features", "features", "imageLayoutVersion", "extra",
]  # fmt: skip


def _nodes(doc: Any) -> list[Any]:
    out, stack = [], [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            out.append(node)
            stack += node.values() if isinstance(node, dict) else node
    return out


def _tweak(value: Any, rng: random.Random) -> Any:
    if isinstance(value, str):
        return rng.choice(
            [value + "\n", value.upper(), " " + value, value[1:], value.replace(":", ""),
             value + "/x", value.replace("/", "")]
        )  # fmt: skip
    if isinstance(value, int) and not isinstance(value, bool):
        return rng.choice([value - 1, -value - 1, float(value), str(value), bool(value)])
    return rng.choice(VALUES)


def _mutate(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        node = rng.choice(_nodes(doc))
        op = rng.random()
        if isinstance(node, dict):
            if node and op < 0.3:
                del node[rng.choice(list(node))]
            elif node and op < 0.6:
                key = rng.choice(list(node))
                node[key] = _tweak(node[key], rng)
            else:
                node[rng.choice(KEYS)] = copy.deepcopy(rng.choice(VALUES))
        elif node and op < 0.5:
            i = rng.randrange(len(node))
            node[i] = _tweak(node[i], rng) if op < 0.25 else copy.deepcopy(rng.choice(VALUES))
        elif node and op < 0.7:
            node.append(copy.deepcopy(node[0]))
        elif op < 0.85:
            node.clear()
        else:
            node.append(copy.deepcopy(rng.choice(VALUES)))
    return doc


def test_the_fast_check_accepts_every_seed() -> None:
    """Otherwise valid manifests would import jsonschema after all."""
    for name, doc in _seeds():
        assert certainly_valid(name, doc), name
    from jsonschema import Draft202012Validator

    validator = _validator("ociManifest")
    assert isinstance(validator, Draft202012Validator)
    assert validator.format_checker is None, "'format' must stay an annotation"


@pytest.mark.parametrize("seed", range(4))
def test_validation_matches_jsonschema_on_mutated_manifests(seed: int) -> None:
    rng = random.Random(seed)
    seeds = _seeds()
    counts = {"fast": 0, "valid": 0, "invalid": 0}
    for _ in range(700):
        name, base = rng.choice(seeds)
        doc = _mutate(base, rng)
        for schema in (name, rng.choice(SCHEMA_NAMES)):
            reference = _reference(schema, doc)
            fast = certainly_valid(schema, doc)
            assert not (fast and reference is not None), (schema, doc, reference)
            assert _verdict(schema, doc) == reference, (schema, doc)
            counts["fast"] += fast
            counts["valid" if reference is None else "invalid"] += 1
    # the mutations reach both sides, and the fast path takes most valid documents
    assert counts["valid"] > 200
    assert counts["invalid"] > 200
    assert counts["fast"] > counts["valid"] // 2, counts


#: Each keyword the walker knows, alone and in combinations the shipped schema does not use (yet),
#: plus keywords it must refuse to judge.
SCHEMAS: list[Any] = [
    True, False, {}, {"minimum": 0}, {"minimum": 0.5}, {"pattern": "^a/b$"}, {"pattern": 1},
    {"const": 2}, {"const": "x"}, {"const": True}, {"const": None}, {"const": [1]},
    {"type": "integer"}, {"type": "number"}, {"type": ["string", "null"]}, {"type": "array"},
    {"required": ["a"]}, {"properties": {"a": {"type": "string"}}},
    {"additionalProperties": False}, {"additionalProperties": {"type": "integer"}},
    {"properties": {"a": {}}, "additionalProperties": False},
    {"patternProperties": {"^x": {}}, "additionalProperties": False},
    {"items": {"minimum": 1}}, {"items": False}, {"prefixItems": [{}], "items": False},
    {"allOf": []}, {"allOf": [{"required": ["a"]}, {"type": "object"}]}, {"anyOf": [{}]},
    {"$ref": "#/$defs/d", "$defs": {"d": {"minimum": 3}}}, {"$ref": "#"}, {"$id": "x", "minimum": 0},
    {"format": "uri"}, {"contentEncoding": "base64"}, {"enum": [1]}, {"minLength": 1},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS, ids=json.dumps)
def test_the_walker_is_sound_beyond_the_shipped_schema(schema: Any) -> None:
    from jsonschema import Draft202012Validator

    from ocistore.validation import _sure

    check = Draft202012Validator(schema)
    defs = schema.get("$defs", {}) if isinstance(schema, dict) else {}
    docs = [*VALUES, {"a": "s"}, {"a": 1}, {"x": 1}, [0], [2, 3], [1.5]]
    for doc in docs:
        if _sure(doc, schema, defs, 0):
            assert check.is_valid(doc), (schema, doc)
