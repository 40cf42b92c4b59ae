"""Shared by the agent tests: a short scripted integration (lead, then review), its answers, and a run of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from diffusers_integrator.agents.runner import RunOptions
from diffusers_integrator.agents.script import ScriptedAPI, Scripts
from diffusers_integrator.evals.cases import Turn


PLANTED_KEY = "sk-ant-api03-PLANTEDplantedPLANTED0123456789abcdef"
QUESTIONS = {
    "questions": [
        {
            "header": "Pipeline style",
            "question": "Which kind of pipeline should the integration add?",
            "options": [
                {"label": "Modular", "description": "Blocks; upstream's default", "recommended": True},
                {"label": "Standard", "description": "One DiffusionPipeline subclass"},
            ],
        }
    ]
}
PLAN = {
    "model_name": "Notes",
    "reference_repo": "the reference folder",
    "reference_script": "infer.py",
    "workflows": ["text2image"],
    "pipeline_style": "modular",
    "components": [{"name": "NotesModel", "kind": "model", "action": "add"}],
    "files": ["NOTES.md"],
    "parity": [{"target": "forward", "metric": "max_abs_diff", "threshold": 1e-3}],
}
ANSWERS = {"questions": {"Pipeline style": "Standard"}, "plan": {"decision": "accept", "note": "Go ahead."}}


def short_scripts() -> Scripts:
    """Write too early, ask, plan, write the planned file, try an unplanned one, delegate a review, finish:
    8 replies of the lead and 2 of the review."""
    edit = "edit_file"
    lead = [
        Turn(tool="inspect_checkout"),
        Turn(tool=edit, arguments={"command": "create", "path": "NOTES.md", "file_text": "too early\n"}),
        Turn(tool="ask_user_question", arguments=QUESTIONS),
        Turn(tool="confirm_plan", arguments=PLAN),
        Turn(tool=edit, arguments={"command": "create", "path": "NOTES.md", "file_text": "planned\n"}),
        Turn(tool=edit, arguments={"command": "create", "path": "OTHER.md", "file_text": "not planned\n"}),
        Turn(tool="delegate", arguments={"agent": "review", "task": "Check the registration of FluxPipeline."}),
        Turn(say="Done: NOTES.md written and reviewed."),
    ]
    review = [Turn(tool="check_registration", arguments={"names": ["FluxPipeline"]}), Turn(say="Verdict: approve.")]
    return Scripts(turns={"lead": lead, "parity": [], "review": review})


def write_answers(folder: Path) -> Path:
    path = folder / "answers.yaml"
    path.write_text(yaml.safe_dump(ANSWERS), encoding="utf-8")
    return path


def options(tree: Path, folder: Path, lines: list[str], **changes: Any) -> RunOptions:
    """A scripted run on `tree` (the scripted API stands in for the network), printing into `lines`."""
    reference = folder / "reference"
    reference.mkdir(exist_ok=True)
    (reference / "infer.py").write_text("print('reference')\n", encoding="utf-8")
    settings: dict[str, Any] = {
        "checkout": tree,
        "reference": reference,
        "script": reference / "infer.py",
        "prompt": "Write the notes.",
        "answers": write_answers(folder),
        "transport": ScriptedAPI(short_scripts()),
        "say": lines.append,
    }
    return RunOptions(**{**settings, **changes})


def lines_of(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
