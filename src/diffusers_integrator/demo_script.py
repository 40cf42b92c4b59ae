"""What the demo's agent sends and what its scripted human says, as data.

The agent follows the integrating-models skill for `TinyDiT`, the research-style DiT bundled in
`parity/examples` (its diffusers port `TinyDiTTransformer2DModel` stands in for the model code the agent would
write). The human answers in chat, because the demo's client cannot show forms, exactly as in Claude Desktop;
their replies are quoted verbatim into `record_answer`.
"""

from __future__ import annotations

from typing import Any

from .evals import Expectations


MODEL = "TinyDiT"
REFERENCE_REPO = "diffusers_integrator/parity/examples (research_dit.py: the bundled research-style DiT)"
REFERENCE_SCRIPT = "research_dit.py: build_reference(ResearchDiTConfig()) on example_inputs(), seed 0"

QUESTIONS: list[dict[str, Any]] = [
    {
        "header": "Reference",
        "question": "Which reference implementation should the port follow?",
        "options": [
            {
                "label": "Bundled research DiT",
                "description": "parity/examples/research_dit.py: fused qkv, [shift, scale] final modulation",
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

_SPEC = '''"""Component parity: the research DiT vs TinyDiTTransformer2DModel, on CPU in float32.{title}"""

import torch

from diffusers_integrator.parity.examples.convert import build_candidate, convert_config
from diffusers_integrator.parity.examples.research_dit import ResearchDiTConfig, build_reference, example_inputs

CONFIG = ResearchDiTConfig(depth=2)
PLANTED_BUG = {bug}


class _CallLikeDiffusers(torch.nn.Module):
    """The reference, called with diffusers' argument names so the outputs line up."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, hidden_states, timestep, encoder_hidden_states):
        return self.model(hidden_states, timestep, encoder_hidden_states)


def reference():
    return _CallLikeDiffusers(build_reference(CONFIG))


def candidate():
    model = build_candidate(build_reference(CONFIG).state_dict(), CONFIG)
    if PLANTED_BUG:
        # The conversion "forgot" to reorder the final modulation from [shift, scale] to diffusers' [scale, shift].
        with torch.no_grad():
            for p in (model.norm_out.linear.weight, model.norm_out.linear.bias):
                p.copy_(torch.cat(p.chunk(2)[::-1]))
    return model


def inputs():
    i = example_inputs(CONFIG)
    return {{"hidden_states": i["x"], "timestep": i["t"], "encoder_hidden_states": i["context"]}}


def configs():
    from diffusers_integrator.parity.examples.diffusers_dit import TinyDiTTransformer2DModel

    return convert_config(CONFIG), TinyDiTTransformer2DModel(**convert_config(CONFIG))
'''


def parity_spec(*, planted_bug: bool) -> str:
    """The spec file the agent writes; with `planted_bug`, shift and scale of the final modulation are swapped."""
    title = "\n\nPLANTED BUG: shift and scale of the final modulation swapped." if planted_bug else ""
    return _SPEC.format(title=title, bug=planted_bug)


def expectations() -> Expectations:
    """What the demo session must achieve, beyond asking before writing."""
    return Expectations(parity_pass=[CLEAN_SPEC], parity_bugs={BUGGY_SPEC: BUG_MODULES})
