"""`diffusers-integrator eval run`: the Inspect task over the chosen cases, then a summary of every score.

Inspect writes its own log (open it with `inspect view --log-dir DIR`); `report.py` adds our summary beside
it: per case, each check's verdict and explanation, per check the share of cases that passed it, the parity
plots, and a static page with Inspect's own viewer bundled. The exit status says whether every case met its expectation: an ordinary case passes every
check; a planted-fault case fails exactly the checks it names in `lowers` and passes the rest.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import IntegratorError
from .cases import EvalCase, load_cases
from .checks import CHECKS
from .report import write_report
from .summary import CaseScore, EvalSummary


if TYPE_CHECKING:
    from inspect_ai.solver import Solver


def cases_to_run(names: list[str] | None) -> tuple[list[EvalCase], list[str]]:
    """The cases to run and those left out: with no names and no clone, the cases that need one wait.

    A case named on purpose that needs a clone is refused up front rather than failing its checks one by one.
    """
    cases = load_cases(names)
    if os.environ.get("DIFFUSERS_CLONE"):
        return cases, []
    needing = [case.id for case in cases if case.base.source == "clone"]
    if names and needing:
        raise IntegratorError(
            f"{', '.join(needing[:5])}{' …' if len(needing) > 5 else ''} start from upstream's clone, and "
            "DIFFUSERS_CLONE is not set.",
            "Set DIFFUSERS_CLONE to a diffusers git clone, or name only cases built from the installed package.",
        )
    return [case for case in cases if case.id not in needing], needing


def run_evals(
    names: list[str] | None = None,
    *,
    model: str | None = None,
    workers: int = 1,
    report_dir: Path = Path("eval-report"),
    epochs: int = 1,
    bundle: bool = True,
    keep_trees: bool = False,
    solver: Solver | None = None,
) -> EvalSummary:
    """Runs the task (offline replay unless `model` names a real model) and writes the summary.

    `solver` replaces the replayed ReAct agent (the agent runner's: `diffusers-integrator agent eval`)."""
    from inspect_ai import eval as inspect_eval

    from .task import integration

    cases = load_cases(names)
    replay = model is None
    task = integration(cases=",".join(case.id for case in cases), replay=replay, solver=solver)
    logs = inspect_eval(
        task,
        model=model or "mockllm/model",
        log_dir=str(report_dir / "logs"),
        max_samples=workers,
        max_subprocesses=max(workers, 1),
        epochs=epochs,
        display="none",
        fail_on_error=False,
    )
    log = logs[0]
    expected = {case.id: case.lowers for case in cases}
    kinds = {case.id: case.kind for case in cases}
    scored, trees = [], {}
    for sample in log.samples or []:
        trees[str(sample.id)] = str((sample.store or {}).get("tree", ""))
        scores = sample.scores or {}
        scored.append(
            CaseScore(
                case=str(sample.id),
                kind=kinds.get(str(sample.id), "?"),
                verdicts={check: scores[check].value == "C" for check in CHECKS if check in scores},
                explanations={check: scores[check].explanation or "" for check in CHECKS if check in scores},
                expected_failures=expected.get(str(sample.id), []),
            )
        )
    rates = {
        check: sum(case.verdicts.get(check, False) for case in scored) / len(scored) if scored else 0.0
        for check in CHECKS
    }
    summary = EvalSummary(log=log.location, cases=scored, pass_rates=rates, trees=trees)
    write_report(summary, report_dir, bundle=bundle)
    if not keep_trees:
        for tree in trees.values():
            if tree:  # <workdir>/eval-<case>-XXXX/session/diffusers: the case's whole folder goes
                shutil.rmtree(Path(tree).parent.parent, ignore_errors=True)
    return summary
