"""`diffusers-integrator eval run`: the Inspect task over the chosen cases, then a summary of every score.

Inspect writes its own log (open it with `inspect view --log-dir DIR`); we add `summary.md` and
`summary.json` beside it: per case, each check's verdict and explanation, and per check the share of cases
that passed it. The exit status says whether every case met its expectation: an ordinary case passes every
check; a planted-fault case fails exactly the checks it names in `lowers` and passes the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from .cases import load_cases
from .checks import CHECKS


class CaseScore(BaseModel):
    case: str
    kind: str
    verdicts: dict[str, bool]
    explanations: dict[str, str]
    expected_failures: list[str]

    @property
    def as_expected(self) -> bool:
        failed = sorted(check for check, passed in self.verdicts.items() if not passed)
        return failed == sorted(self.expected_failures)


class EvalSummary(BaseModel):
    log: str
    cases: list[CaseScore]
    pass_rates: dict[str, float]

    @property
    def as_expected(self) -> bool:
        return bool(self.cases) and all(case.as_expected for case in self.cases)


def run_evals(
    names: list[str] | None = None,
    *,
    model: str | None = None,
    workers: int = 1,
    report_dir: Path = Path("eval-report"),
    epochs: int = 1,
) -> EvalSummary:
    """Runs the task (offline replay unless `model` names a real model) and writes the summary."""
    from inspect_ai import eval as inspect_eval

    from .task import integration

    cases = load_cases(names)
    replay = model is None
    task = integration(cases=",".join(case.id for case in cases), replay=replay)
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
    scored = []
    for sample in log.samples or []:
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
    summary = EvalSummary(log=log.location, cases=scored, pass_rates=rates)
    write_summary(summary, report_dir)
    return summary


def write_summary(summary: EvalSummary, report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    md, js = report_dir / "summary.md", report_dir / "summary.json"
    js.write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    md.write_text(render_summary(summary), encoding="utf-8")
    return md, js


def render_summary(summary: EvalSummary) -> str:
    header = "| case | kind | " + " | ".join(CHECKS) + " | as expected |"
    lines = [
        "# Eval summary",
        "",
        f"Inspect log: `{summary.log}` (open with `inspect view`).",
        "",
        header,
        "|" + "---|" * (len(CHECKS) + 3),
    ]
    for case in summary.cases:
        marks = []
        for check in CHECKS:
            passed = case.verdicts.get(check)
            expected_fail = check in case.expected_failures
            marks.append(
                "–" if passed is None else ("pass" if passed else ("fail (planted)" if expected_fail else "FAIL"))
            )
        lines.append(f"| {case.case} | {case.kind} | {' | '.join(marks)} | {'yes' if case.as_expected else 'NO'} |")
    lines += ["", "Pass rate per check: " + ", ".join(f"{c} {r:.0%}" for c, r in summary.pass_rates.items()), ""]
    for case in summary.cases:
        lines += [f"## {case.case}", ""]
        lines += [
            f"- **{check}**: {'pass' if case.verdicts.get(check) else 'fail'} — {text}"
            for check, text in case.explanations.items()
        ]
        lines.append("")
    return "\n".join(lines)


def summary_json(summary: EvalSummary) -> str:
    return json.dumps(summary.model_dump(mode="json"), indent=2)
