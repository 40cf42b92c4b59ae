"""The same case replayed ten times gives the same scores, and the same explanations (timings aside)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diffusers_integrator.evals.run import run_evals


CASE = "fault-process-no-questions"  # a planted fault: one check must fail, six must pass, every time


@pytest.mark.slow
def test_ten_replays_score_alike(tmp_path: Path) -> None:
    summary = run_evals([CASE], epochs=10, workers=2, report_dir=tmp_path, bundle=False)
    assert len(summary.cases) == 10
    outcomes = {
        (
            tuple(sorted(case.verdicts.items())),
            tuple(
                sorted((check, re.sub(r"\d+(\.\d+)?s\b", "<t>", text)) for check, text in case.explanations.items())
            ),
        )
        for case in summary.cases
    }
    assert len(outcomes) == 1, outcomes
    assert summary.as_expected
