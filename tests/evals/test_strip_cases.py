"""Strip-and-restore cases: the strip on a real tree, the layout-blind comparison, and (slow) every shipped case.

A strip-and-restore case removes one integration from upstream's main and replays an agent restoring it; the
end state must match upstream's (files, registration, dummies) and upstream's own tests for the integration
must pass. Two representative cases run in the fast suite (`tests/evals/test_run.py`); the rest run here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.evals.base import strip, stripped_files, stripped_names
from diffusers_integrator.evals.cases import load_cases
from diffusers_integrator.evals.checks import CHECKS, _layout_aside
from diffusers_integrator.evals.run import run_evals
from diffusers_integrator.registry import check_registration


STRIP_CASES = [case.id for case in load_cases() if case.kind == "strip-restore"]
# Run in the fast suite (tests/evals/test_run.py): a model module and a whole pipeline package.
FAST = ["strip-transformer-chroma", "strip-pipeline-ddpm"]
# Faults of our tools that these cases expose (reported, not hidden): the checks each one fails, and why.
# The case files say the same in a comment (evals/make_strip_cases.py writes it); when a fault is fixed, its case
# passes every check and this test fails until the entry goes.
KNOWN_FAULTS: dict[str, tuple[list[str], str]] = {}


def test_the_strip_cases_cover_every_family_and_the_fast_ones_exist() -> None:
    assert len(STRIP_CASES) >= 20
    families = {case_id.split("-")[1] for case_id in STRIP_CASES}
    assert families >= {"transformer", "autoencoder", "pipeline", "scheduler", "modular"}
    assert set(FAST) <= set(STRIP_CASES) and not set(FAST) & set(KNOWN_FAULTS)
    for case in load_cases(["strip-"]):
        assert case.base.source == "clone" and case.base.strip and case.expect.tests, case.id
        assert case.expect.names and case.expect.same_as_base, case.id
        restored = {turn.arguments["path"] for turn in case.turns if turn.tool == "edit_file"}
        assert restored == set(case.expect.files), f"{case.id}: every stripped file comes back from the base"
        assert all("file_text" not in turn.arguments for turn in case.turns), "cases hold no upstream code"
        says_fault = "# Fault of ours" in (case.folder / "case.yaml").read_text()
        assert says_fault == (case.id in KNOWN_FAULTS), f"{case.id}: the case file and KNOWN_FAULTS agree"


def test_strip_removes_a_whole_package_with_every_trace_of_its_names(workspace: Path) -> None:
    checkout = Checkout.find(workspace)
    package = "src/diffusers/pipelines/ddpm"
    files = stripped_files(workspace, [package])
    assert f"{package}/__init__.py" in files and f"{package}/pipeline_ddpm.py" in files
    assert stripped_names(workspace, files) == {"DDPMPipeline": f"{package}/pipeline_ddpm.py"}

    before = check_registration(checkout, max_findings=500)
    strip(checkout, [package])

    assert not (workspace / package).exists(), "no empty folder is left behind"
    for rel in ["src/diffusers/__init__.py", "src/diffusers/pipelines/__init__.py", "src/diffusers/utils"]:
        path = workspace / rel
        texts = [p.read_text() for p in path.rglob("*.py")] if path.is_dir() else [path.read_text()]
        assert not any("DDPMPipeline" in text for text in texts), rel
    after = check_registration(checkout, max_findings=500)
    assert after.total == before.total, "the strip adds no inconsistency (upstream's own findings stay as they were)"
    assert not [finding for finding in after.findings if "ddpm" in f"{finding.name} {finding.path}".lower()]


def test_a_registration_moved_within_its_block_is_equivalent_and_another_guard_is_not(diffusers_tree: Path) -> None:
    rel = "src/diffusers/pipelines/__init__.py"
    upstream = (diffusers_tree / rel).read_text()
    statement = '    _import_structure["ddpm"] = ["DDPMPipeline"]\n'  # in the torch-only block
    without = upstream.replace(statement, "", 1)
    assert without != upstream

    def after(anchor: str) -> str:
        assert anchor in without
        return without.replace(anchor, anchor + statement, 1)

    moved = after('    _import_structure["dit"] = ["DiTPipeline"]\n')  # further down the same block
    assert moved != upstream and _layout_aside(rel, moved) == _layout_aside(rel, upstream)
    guarded_otherwise = after('    _import_structure["latte"] = ["LattePipeline"]\n')  # torch + transformers
    assert _layout_aside(rel, guarded_otherwise) != _layout_aside(rel, upstream)
    edited = upstream.replace("import TYPE_CHECKING", "import TYPE_CHECKING  # edited", 1)
    assert _layout_aside(rel, edited) != _layout_aside(rel, upstream), "a line outside the registrations differs"


@pytest.mark.slow
def test_every_strip_case_restores_upstream(diffusers_clone: Path, tmp_path: Path) -> None:
    slow = [case_id for case_id in STRIP_CASES if case_id not in FAST]
    summary = run_evals(slow, report_dir=tmp_path / "report", workers=2)
    assert sorted(case.case for case in summary.cases) == sorted(slow)
    for case in summary.cases:
        assert set(case.verdicts) == set(CHECKS), case.case
        failed = sorted(check for check, passed in case.verdicts.items() if not passed)
        expected, _ = KNOWN_FAULTS.get(case.case, ([], ""))
        assert failed == sorted(expected), (case.case, {check: case.explanations[check] for check in failed})
