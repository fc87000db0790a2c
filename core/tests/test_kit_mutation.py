"""Mutation test of the conformance kit: every deliberately broken in-memory scheme in
kit_mutants.py must fail the kit, and the correct one must pass it whole.

One pytest subprocess runs the kit against all of them (a JUnit report says which test failed
for which variant), so a kit change that stops catching a broken rule fails here by name.
"""

from __future__ import annotations

from pathlib import Path

from kit_mutants import MUTANTS, run_kit


def test_the_kit_fails_every_broken_scheme_and_passes_the_correct_one(tmp_path: Path) -> None:
    results = run_kit(tmp_path)
    run, failed = results["Correct"]
    assert run >= 60 and failed == 0, f"the correct memory scheme fails {failed} of {run}"
    missed = sorted(name for name in MUTANTS if results.get(name, (0, 0))[1] == 0)
    assert not missed, f"the kit passes these broken schemes: {missed}"
    assert set(results) == {"Correct", *MUTANTS}
    assert all(count == run for count, _ in results.values())  # the whole kit ran for each
