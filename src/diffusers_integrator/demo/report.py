"""The demo's report: `report.md` for people, `report.json` for machines, next to a copy of the trace.

Both are self-contained (the plan, what was scaffolded and written, the conversion, the quality, parity and test
results, the scorecard) and sit beside the generated image, so they stay meaningful after the demo's tree is removed.
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
        f"A scripted agent integrated `TinyDiT` into a diffusers {facts.get('diffusers_version', '?')} tree (built "
        f"from {facts.get('tree_source', '?')}) through "
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
    if facts.get("image"):
        image = facts["image"]
        lines += [
            "",
            "## The generated image",
            "",
            f"`TinyDiTPipeline` from the tree, the transformer loaded with `from_pretrained` from the converted "
            f'folder, a tiny VAE, T5 encoder and tokenizer built in code; prompt "{image["prompt"]}", '
            f"{image['steps']} steps, {image['width']}x{image['height']}, {image['seconds']} s. The weights are the "
            "research model's random (seeded) ones, so the picture is structured noise: what it proves is that "
            "the whole pipeline runs on the ported model.",
            "",
            f"![TinyDiT, end to end]({Path(image['png']).name})",
        ]
    if facts.get("edits"):
        lines += ["", "## What the agent wrote into the scaffold (its own editor)", ""]
        lines += [f"- `{e['path']}`: +{e['added']} -{e['removed']} lines, {e['lines']} in all" for e in facts["edits"]]
    if facts.get("conversion"):
        conversion = facts["conversion"]
        lines += ["", "## The conversion", "", f"`{conversion['command']}` (in the tree) wrote:", ""]
        lines += [f"- `{conversion['converted']}/{name}`" for name in conversion["files"]]
    if facts.get("tests"):
        tests = facts["tests"]
        where = "a clone of diffusers" if tests["clone"] else "a tree built from the installed package"
        lines += [
            "",
            f"## The generated tests ({tests['passed']} passed, {tests['failed'] + tests['errors']} failed, "
            f"{tests['skipped']} did not run)",
            "",
            f"`{tests['command']}` on {where}; counts from pytest's JUnit report. A test that did not run is "
            "not counted as passed.",
            "",
            "| file | passed | failed | did not run |",
            "|---|---|---|---|",
            *(
                f"| {path} | {c['passed']} | {c['failed'] + c['errors']} | {c['skipped']} |"
                for path, c in tests["files"].items()
            ),
        ]
        if tests["skip_reasons"]:
            lines += ["", "Why the others did not run:", ""]
            lines += [f"- {count} × {_cell(reason)}" for reason, count in tests["skip_reasons"].items()]
    if facts.get("parity_clean") or facts.get("parity_bug"):
        lines += [
            "",
            "Both parity specs compare the research DiT with the `TinyDiTTransformer2DModel` the agent wrote into "
            "the tree, imported from the tree's `src/` and built from the research checkpoint through the shipped "
            "conversion script's key map (`model_from_script`); the second plants the classic conversion bug (the "
            "final modulation's `[shift, scale]` not reordered to diffusers' `[scale, shift]`).",
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
        if facts.get("image"):
            lines.append(f"- the generated image: `{facts['image']['png']}`")
        if facts.get("tests"):
            lines.append(f"- pytest's JUnit report of the generated tests: `{facts['tests']['junit']}`")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "/")
