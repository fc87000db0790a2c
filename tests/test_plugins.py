"""Plugin discovery through real entry points of really installed distributions.

Each fixture plugin under ``tests/fixtures/plugins`` is installed with pip into its own target
directory, and a fresh interpreter with that directory on ``PYTHONPATH`` is asked what it finds:
exactly what happens when a user ``pip install``s a third-party scheme.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ocistore.errors import PluginLoadError, SchemeConflictError, UnknownSchemeError
from ocistore.hookspecs import hookimpl
from ocistore.router import Router
from ocistore.scheme import SchemeSpec
from ocistore.testing.memory import MemoryPlugin

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name in ("example", "broken", "conflicting"):
        target = tmp_path_factory.mktemp(f"site-{name}")
        # Build from a copy: an in-tree build would leave build/ and *.egg-info behind.
        source = tmp_path_factory.mktemp(f"src-{name}") / name
        shutil.copytree(FIXTURES / name, source)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(target),
                str(FIXTURES / name),
            ],
            check=True,
            capture_output=True,
        )
        out[name] = target
    return out


def run(code: str, *paths: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OCISTORE_")}
    environ["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=False
    )


LIST = "import json; from ocistore import Router; print(json.dumps(sorted(Router().schemes())))"


def test_builtin_schemes_come_from_their_entry_points() -> None:
    proc = run(
        "import json; from ocistore import Router; r = Router(); "
        "print(json.dumps({n: [str(r.owner(n)), s.plugin] for n, s in r.schemes().items()}))"
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["reg"][0].startswith("reg (ocistore-reg ")
    assert found["ocidir"][0].startswith("ocidir (ocistore-ocidir ")


def test_third_party_plugin_is_found_and_routes(installed: dict[str, Path]) -> None:
    code = (
        "import io; from ocistore import Router, Settings;"
        "r = Router(); ref = r.parse('example://box:v1'); print(ref.scheme, ref.path, ref.tag);"
        "print(r.owner('example'));"
        "s = r.spec('example').factory(Settings()); print(s.blob_put(ref, None, io.BytesIO(b'hi'), 2)[1])"
    )
    proc = run(code, installed["example"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "example box v1",
        "example (ocistore-example-plugin 1.2.3)",
        "2",
    ]


def test_broken_plugin_error_names_entry_point_distribution_and_the_way_out(
    installed: dict[str, Path],
) -> None:
    proc = run(LIST, installed["broken"])
    assert proc.returncode != 0
    assert "PluginLoadError" in proc.stderr
    assert "plugin broken (ocistore-broken-plugin 0.0.1)" in proc.stderr
    assert "ocistore_dependency_that_is_not_installed" in proc.stderr
    proc = run(
        "from ocistore import Router\ntry:\n Router().schemes()\nexcept Exception as e: print(e.hint)",
        installed["broken"],
    )
    assert "OCISTORE_DISABLE_PLUGINS=broken" in proc.stdout
    ok = run(LIST, installed["broken"], OCISTORE_DISABLE_PLUGINS="broken")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == ["dockertar", "ocidir", "ocifile", "reg"]


def test_two_plugins_claiming_one_scheme_name_both(installed: dict[str, Path]) -> None:
    proc = run(LIST, installed["conflicting"])
    assert proc.returncode != 0
    assert "SchemeConflictError" in proc.stderr
    assert "ocistore-ocidir" in proc.stderr
    assert "ocistore-conflicting-plugin" in proc.stderr


def test_no_plugin_can_take_over_the_default_scheme() -> None:
    class Usurper:
        @hookimpl
        def ocistore_add_schemes(self, registry: object) -> None:
            registry.add(SchemeSpec("reg", str, str))  # type: ignore[attr-defined,arg-type]

    router = Router(plugins=[("usurper", Usurper())])
    with pytest.raises(
        SchemeConflictError, match=r"'reg' is claimed by two plugins: reg \(ocistore-reg"
    ):
        router.parse("alpine")


def test_autoload_switch_turns_off_entry_points(installed: dict[str, Path]) -> None:
    proc = run(LIST, installed["example"], OCISTORE_PLUGIN_AUTOLOAD="0")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_import_is_light_and_ocidir_routing_never_imports_requests() -> None:
    proc = run(
        "import sys, ocistore; a = 'requests' in sys.modules or 'pluggy' in sys.modules;"
        "from ocistore import Router; Router().parse('ocidir://x:y');"
        "print(a, 'requests' in sys.modules, 'jsonschema' in sys.modules)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "False"]


# -- in-process registration (what tests and embedders do) -----------------------------------


def test_conflict_between_registered_plugins_names_both() -> None:
    class Thief:
        @hookimpl
        def ocistore_add_schemes(self, registry: object) -> None:
            registry.add(SchemeSpec("memory", str, str))  # type: ignore[attr-defined,arg-type]

    router = Router(plugins=[("mem", MemoryPlugin()), ("thief", Thief())], autoload=False)
    with pytest.raises(
        SchemeConflictError, match=r"'memory' is claimed by two plugins: mem and thief"
    ):
        router.schemes()


def test_unknown_hook_fails_fast_naming_the_plugin() -> None:
    class Typo:
        @hookimpl
        def ocistore_add_schemez(self) -> None:
            pass

    with pytest.raises(PluginLoadError, match=r"typo.*unknown hook"):
        Router(plugins=[("typo", Typo())], autoload=False).schemes()


def test_hook_exception_is_wrapped_with_the_plugin_name() -> None:
    class Fails:
        @hookimpl
        def ocistore_add_schemes(self, registry: object) -> None:
            raise RuntimeError("boom")

    with pytest.raises(
        PluginLoadError, match=r"plugin fails failed in ocistore_add_schemes: RuntimeError: boom"
    ):
        Router(plugins=[("fails", Fails())], autoload=False).schemes()


@pytest.mark.parametrize("name", ["", "Upper", "a://b"])
def test_invalid_scheme_names_are_refused(name: str) -> None:
    class Bad:
        @hookimpl
        def ocistore_add_schemes(self, registry: object) -> None:
            registry.add(SchemeSpec(name, str, str))  # type: ignore[attr-defined,arg-type]

    with pytest.raises(PluginLoadError, match="invalid scheme name"):
        Router(plugins=[("bad", Bad())], autoload=False).schemes()


def test_unknown_scheme_lists_installed_and_hints_install() -> None:
    router = Router(plugins=[("mem", MemoryPlugin())], autoload=False)
    with pytest.raises(
        UnknownSchemeError, match=r"unknown scheme 'ocidir' \(installed schemes: memory\)"
    ) as info:
        router.parse("ocidir://x")
    assert info.value.hint == "pip install ocistore-ocidir"
    with pytest.raises(UnknownSchemeError) as info:
        router.parse("nothing://x")
    assert info.value.hint is None


def test_bare_references_go_to_the_configured_default_only() -> None:
    class Hijack:
        @hookimpl
        def ocistore_add_schemes(self, registry: object) -> None:
            registry.add(  # type: ignore[attr-defined]
                SchemeSpec("hijack", lambda t: (_ for _ in ()).throw(AssertionError(t)), str)  # type: ignore[arg-type]
            )

    router = Router(plugins=[("hijack", Hijack())])
    assert router.parse("alpine").scheme == "reg"
    memory = Router(plugins=[("mem", MemoryPlugin())], autoload=False, default_scheme="memory")
    assert memory.parse("box:v1").path == "box"


def test_every_hook_is_documented_with_params() -> None:
    from ocistore import hookspecs

    hooks = [n for n in dir(hookspecs) if n.startswith("ocistore_")]
    assert hooks == ["ocistore_add_schemes"]
    for name in hooks:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert ":param registry:" in doc
