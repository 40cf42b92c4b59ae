"""Every shipped case replayed offline through the real server (Inspect's agent loop, stdio, a real tree).

The TinyDiT integration passes every check; each planted fault fails exactly the checks it names, so a
scorer that stops seeing its fault, or starts failing good work, breaks this test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from diffusers_integrator.evals.cases import load_cases
from diffusers_integrator.evals.checks import CHECKS
from diffusers_integrator.evals.run import run_evals
from diffusers_integrator.evals.summary import EvalSummary

from ..conftest import CLONE_VARIABLE, needs
from .test_strip_cases import FAST as FAST_STRIP


# Strip-and-restore cases are slow (a clone, its gates, upstream's tests): two representative ones run here when
# a clone is at hand, the rest in tests/evals/test_strip_cases.py (slow).
CASES = [case.id for case in load_cases() if case.kind != "strip-restore" or case.id in FAST_STRIP]


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> EvalSummary:
    names = [case_id for case_id in CASES if case_id not in FAST_STRIP or os.environ.get(CLONE_VARIABLE)]
    return run_evals(names, report_dir=tmp_path_factory.mktemp("evals"), workers=2)


@pytest.mark.parametrize("case_id", CASES)
def test_each_case_fails_exactly_what_it_should(
    summary: EvalSummary, case_id: str, request: pytest.FixtureRequest
) -> None:
    if case_id in FAST_STRIP:
        request.getfixturevalue("diffusers_clone")  # without a clone: a skip here, a failure in CI
    case = next(c for c in summary.cases if c.case == case_id)
    assert set(case.verdicts) == set(CHECKS), "every check scored the case"
    failed = sorted(check for check, passed in case.verdicts.items() if not passed)
    assert failed == sorted(case.expected_failures), {check: case.explanations[check] for check in failed}
    assert all(case.explanations[check] for check in CHECKS), "every verdict explains itself"


def test_the_summary_and_the_inspect_log_are_written(summary: EvalSummary) -> None:
    assert summary.as_expected
    report = Path(summary.log).parent.parent
    assert (
        "| tinydit | integration | pass | pass | pass | pass | pass | pass | pass | yes |"
        in (report / "summary.md").read_text()
    )
    assert json.loads((report / "summary.json").read_text())["cases"]
    assert Path(summary.log).is_file() and summary.log.endswith(".eval")


def test_a_demo_session_records_as_the_shipped_tinydit_case(tmp_path: Path) -> None:
    # The shipped case starts from the installed package's tree, so the demo does too (no clone).
    environment = {key: value for key, value in os.environ.items() if key != CLONE_VARIABLE}
    demo = subprocess.run(
        [sys.executable, "-m", "diffusers_integrator.cli", "demo", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    record = subprocess.run(
        [sys.executable, "-m", "diffusers_integrator.cli", "eval", "record", "--case", "again"]
        + ["--checkout", str(tmp_path / "demo" / "diffusers"), "--into", str(tmp_path / "cases")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert record.returncode == 0, record.stderr
    recorded = load_cases(root=tmp_path / "cases")[0]
    shipped = load_cases(["tinydit"])[0]
    assert [t.tool for t in recorded.turns] == [t.tool for t in shipped.turns]
    assert recorded.expect.names == shipped.expect.names and recorded.expect.files == shipped.expect.files
    assert recorded.expect.parity == shipped.expect.parity
    for turn in recorded.turns:
        assert "plan-" not in json.dumps(turn.arguments), "issued ids are recorded as $refs"
    # The agent's own edits of scaffolded files are recorded with what it wrote: the port and the key map.
    edits = [turn.arguments["path"] for turn in recorded.turns if turn.tool == "edit_file"]
    assert edits[:2] == [
        "src/diffusers/models/transformers/transformer_tiny_dit.py",
        "scripts/convert_tiny_dit_to_diffusers.py",
    ]
    for path in edits[:2]:  # the same text after the licence header (whose year is the scaffold's)
        assert recorded.file_text(path).split("\n\n", 1)[1] == shipped.file_text(path).split("\n\n", 1)[1]


# The page's cell colours (evals/report.py): what the screenshot must show for the shipped cases.
PASS, PLANTED, FAIL = (0x1A, 0x7F, 0x37), (0x9A, 0x67, 0x00), (0xCF, 0x22, 0x2E)


def test_the_report_page_shows_the_scores_in_a_real_browser(summary: EvalSummary, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        needs("Debian's chromium (headless) to open the report page", "apt-get install chromium")
    page = Path(summary.log).parent.parent / "index.html"
    shot = tmp_path / "report.png"
    browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    run = subprocess.run(
        [*browser, f"--screenshot={shot}", "--window-size=1600,1400", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file(), run.stderr[-2000:]
    from PIL import Image

    colours = Counter({colour: count for count, colour in Image.open(shot).convert("RGB").getcolors(1 << 24)})
    cases = len(summary.cases)
    planted = sum(len(case.expected_failures) for case in summary.cases)
    # Each cell is dozens of pixels wide: every pass and planted cell shows; no unexpected failure does.
    assert colours[PASS] > 400 * (cases * len(CHECKS) - planted) * 0.5
    assert colours[PLANTED] > 400 * planted * 0.5
    assert colours[FAIL] == 0
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert f"{cases}/{cases} cases as expected" in dom
    assert dom.count('class="plots"') >= 1 and ".png" in dom
