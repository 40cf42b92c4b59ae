"""What the demo's agent sends and what its scripted human says, as data.

The agent follows the integrating-models skill for `TinyDiT`, the research-style DiT bundled in
`testing/research_dit.py`. What it writes with its own editor after the scaffold (the port, the conversion
script's key map, the parity specs) lives in `testing/tiny_dit_integration.py`. The human answers in chat, because
the demo's client cannot show forms, exactly as in Claude Desktop; their replies are quoted verbatim into
`record_answer`.
"""

from __future__ import annotations

from typing import Any

from ..evals import Expectations
from ..testing import tiny_dit_integration


MODEL = "TinyDiT"
REFERENCE_REPO = "diffusers_integrator/testing (research_dit.py: the bundled research-style DiT)"
REFERENCE_SCRIPT = "research_dit.py: build_reference(ResearchDiTConfig()) on example_inputs(), seed 0"

QUESTIONS: list[dict[str, Any]] = [
    {
        "header": "Reference",
        "question": "Which reference implementation should the port follow?",
        "options": [
            {
                "label": "Bundled research DiT",
                "description": "testing/research_dit.py: fused qkv, [shift, scale] final modulation",
            },
            {"label": "Another repo", "description": "Give me the GitHub link and the commit to port from"},
        ],
    },
    {
        "header": "Workflows",
        "question": "Which workflows should this PR integrate, in this order?",
        "multi_select": True,
        "options": [
            {"label": "Text-to-image", "description": "The reference's own workflow: prompt embeddings to latents"},
            {"label": "Image-to-image", "description": "Start from an encoded input image (a later PR is fine)"},
        ],
    },
    {
        "header": "Pipeline style",
        "question": "Which kind of pipeline should the integration add?",
        "options": [
            {
                "label": "Modular",
                "description": "Blocks in modular_pipelines/<model>/; upstream's default for new models",
                "recommended": True,
            },
            {"label": "Standard", "description": "One DiffusionPipeline subclass per workflow"},
            {"label": "Both", "description": "Modular blocks and a standard pipeline, proven equal"},
        ],
    },
]

HUMAN_ANSWERS = (
    "Use the bundled research DiT. Text-to-image only for now, image-to-image can wait. "
    "Go with both: modular is the future, but our users still call a plain TinyDiTPipeline."
)
ANSWERS: list[dict[str, Any]] = [
    {"question_id": "q1", "selected": ["Bundled research DiT"]},
    {"question_id": "q2", "selected": ["Text-to-image"], "note": "image-to-image can wait"},
    {"question_id": "q3", "selected": ["Both"], "note": "users still call a plain TinyDiTPipeline"},
]
HUMAN_VERDICT = "Looks right. Accept, go ahead, and keep the parity specs out of the PR."

# How the agent turns the answers into scaffold arguments.
WORKFLOW_TASKS = {"Text-to-image": "text2image", "Image-to-image": "image2image"}
PIPELINE_STYLES = {"Modular": "modular", "Standard": "standard", "Both": "both"}


def scaffold_arguments(answers: list[dict[str, Any]], *, dry_run: bool) -> dict[str, Any]:
    """`scaffold` as the recorded answers ask for it."""
    by_header = {answer["header"]: answer["selected"] for answer in answers}
    return {
        "model_name": MODEL,
        "tasks": [WORKFLOW_TASKS[label] for label in by_header["Workflows"]],
        "pipeline": PIPELINE_STYLES[by_header["Pipeline style"][0]],
        "dry_run": dry_run,
    }


def plan_arguments(scaffold: dict[str, Any], pipeline: str, tasks: list[str]) -> dict[str, Any]:
    """The `confirm_plan` arguments, from the answers and what the scaffold dry run would write."""
    names = scaffold["names"]
    components = [
        {"name": names["transformer"], "kind": "model", "action": "add", "note": "port of the research DiT"},
        *(
            {"name": pipe["class_name"], "kind": "pipeline", "action": "add", "note": pipe["task"]}
            for pipe in names["pipelines"]
        ),
    ]
    if names.get("modular_blocks"):
        components.append({"name": names["modular_blocks"], "kind": "modular_blocks", "action": "add", "note": ""})
    components += [
        {"name": "FlowMatchEulerDiscreteScheduler", "kind": "scheduler", "action": "reuse", "note": "flow matching"},
        {"name": names["conversion_script"], "kind": "conversion_script", "action": "add", "note": "key map"},
    ]
    return {
        "model_name": MODEL,
        "reference_repo": REFERENCE_REPO,
        "reference_script": REFERENCE_SCRIPT,
        "workflows": tasks,
        "pipeline_style": pipeline,
        "components": components,
        # A dry run lists every diff (inits and dummies included); a done scaffold lists the files it wrote.
        "files": [change["path"] for change in scaffold["changes"]] or [f["path"] for f in scaffold["files"]],
        "parity": [
            {
                "target": f"{names['transformer']} forward vs the research DiT",
                "metric": "max_abs_diff",
                "threshold": 1e-3,
                "device": "cpu",
                "dtype": "float32",
            }
        ],
        "notes": "Parity specs live under .diffusers-integrator/specs/ and never ship. "
        "The conversion must split the fused qkv and reorder the final [shift, scale] into [scale, shift].",
    }


# ---------------------------------------------------------------------------------------------- parity specs

SPEC_DIR = ".diffusers-integrator/specs"
CLEAN_SPEC = f"{SPEC_DIR}/tinydit_transformer.py"
BUGGY_SPEC = f"{SPEC_DIR}/tinydit_transformer_planted_bug.py"
# Where a correct localisation puts the planted bug: the final modulation, and nothing before it.
BUG_MODULES = ["norm_out"]


def parity_spec(*, planted_bug: bool) -> str:
    """The spec the demo's agent writes: the tree's model, built through the shipped script, vs the research DiT."""
    return tiny_dit_integration.parity_spec(planted_bug=planted_bug)


def expectations() -> Expectations:
    """What the demo session must achieve, beyond asking before writing."""
    return Expectations(parity_pass=[CLEAN_SPEC], parity_bugs={BUGGY_SPEC: BUG_MODULES})
