"""The demo's report: `report.md` for people, `report.json` for machines, next to a copy of the trace.

Both are self-contained (the plan, what was scaffolded, the quality and parity results, the scorecard), so they
stay meaningful after the demo's tree is removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from ..evals import Scorecard
    from .steps import DemoRun


def write_report(run: DemoRun, card: Scorecard | None) -> tuple[Path, Path, Path]:
    """Writes report.md and report.json into the demo's workdir; returns their paths and the trace copy's."""
    md_path = run.workdir / "report.md"
    json_path = run.workdir / "report.json"
    trace_copy = run.workdir / "trace.jsonl"
    data = {
        "passed": not run.failed and card is not None and card.full,
        "workdir": str(run.workdir),
        "tree": str(run.tree),
        "steps": [step.__dict__ for step in run.steps],
        "facts": run.facts,
        "scorecard": card.model_dump(mode="json") if card is not None else None,
        "trace_copy": str(trace_copy) if trace_copy.is_file() else None,
    }
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    md_path.write_text(_markdown(run, card, data), encoding="utf-8")
    return md_path, json_path, trace_copy


def _markdown(run: DemoRun, card: Scorecard | None, data: dict[str, Any]) -> str:
    from ..evals import scorecard_markdown

    facts = run.facts
    server = facts.get("server", {})
    verdict = "passed" if data["passed"] else "FAILED"
    lines = [
        f"# diffusers-integrator demo: {verdict}",
        "",
        f"A scripted agent integrated `TinyDiT` into a diffusers {facts.get('diffusers_version', '?')} tree through "
        f"`diffusers-integrator serve` over stdio ({server.get('name', '?')} {server.get('version', '?')}, "
        f"protocol {server.get('protocol', '?')}), with a scripted human answering in chat. "
        f"Total {facts.get('total_s', '?')} s.",
        "",
        "## Score",
        "",
        scorecard_markdown(card) if card is not None else "No score: the session left no trace.",
        "",
        "## Steps",
        "",
        "| section | step | ok | s | detail |",
        "|---|---|---|---|---|",
        *(
            f"| {s.section} | {s.name} | {'ok' if s.ok else '**FAIL**'} | {s.seconds:.2f} | {_cell(s.detail)} |"
            for s in run.steps
        ),
    ]
    if facts.get("answers"):
        lines += ["", "## The human's answers (given in chat, recorded with record_answer)", ""]
        lines += [
            f"- {a['header']}: {', '.join(a['selected'])}" + (f" ({a['note']})" if a.get("note") else "")
            for a in facts["answers"]
        ]
    if facts.get("plan_markdown"):
        plan = facts.get("plan", {})
        lines += ["", f"## The approved plan ({plan.get('id', '?')}, digest {plan.get('digest', '?')})", ""]
        lines += [
            "",
            "The plan exactly as the human saw it in chat:",
            "",
            "```text",
            *facts["plan_markdown"].splitlines(),
            "```",
        ]
    if facts.get("scaffold"):
        scaffold = facts["scaffold"]
        lines += ["", "## Scaffold", "", scaffold["summary"], "", "Registered: " + ", ".join(scaffold["registered"])]
        lines += ["", "What the agent fills in next:", *(f"- {task}" for task in scaffold["checklist"])]
    if facts.get("quality"):
        quality = facts["quality"]
        lines += ["", f"## Quality ({quality['scope']}, {quality['findings_total']} findings)", ""]
        lines += ["| check | status | findings | detail |", "|---|---|---|---|"]
        lines += [
            f"| {c['check']} | {c['status']} | {c['findings']} | {_cell(c['detail'])} |" for c in quality["summary"]
        ]
    if facts.get("parity_clean") or facts.get("parity_bug"):
        lines += [
            "",
            "Both parity specs compare the research DiT with its worked diffusers port in "
            "`diffusers_integrator.testing` (`TinyDiTTransformer2DModel`), which stands in for the model code "
            "the agent writes into the scaffolded file; the second plants the classic conversion bug (the final "
            "modulation's `[shift, scale]` not reordered to diffusers' `[scale, shift]`).",
        ]
    for key, title in (("parity_clean", "Parity: the clean port"), ("parity_bug", "Parity: the planted bug")):
        if facts.get(key):
            report = facts[key]
            lines += ["", f"## {title} ({report['status']})", "", "```text", report["summary"].rstrip(), "```"]
    trace = facts.get("trace")
    if trace:
        lines += [
            "",
            "## Files",
            "",
            f"- session trace: `{data.get('trace_copy')}` ({trace['calls']} calls), a copy of what the server "
            f"recorded at `{trace['path']}`",
            f"- server log: `{run.workdir / 'server.log'}`",
            f"- machine-readable report: `{run.workdir / 'report.json'}`",
        ]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "/")
