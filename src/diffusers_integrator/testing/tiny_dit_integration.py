"""The TinyDiT integration as an agent finishes it: what it writes into the scaffold, and the proof that it works.

The scaffold lays down a skeleton model and a conversion script with TODOs; an agent then ports the reference into
the model file and fills in the script's key map. This module holds that work for the research DiT of
`research_dit.py`, as source text (`tiny_dit_port/*.py.txt`, written into a tree with the agent's own editor) that
keeps the scaffold's config and forward names, so the generated tests, the pipelines, the conversion and parity all
agree. Its helpers save the research checkpoint with a fixed seed and write the parity spec that imports the model
*from the tree* and builds it through the shipped script's key map (`model_from_script`). `tiny_dit_generate` runs
the tree's pipeline on the converted weights.
"""

from __future__ import annotations

from pathlib import Path

from .research_dit import ResearchDiTConfig, build_reference


_SOURCES = Path(__file__).parent / "tiny_dit_port"

MODEL_FILE = "src/diffusers/models/transformers/transformer_tiny_dit.py"
CONVERSION_SCRIPT = "scripts/convert_tiny_dit_to_diffusers.py"
# Under the state folder: git ignores it, so neither the checkpoint nor the converted weights join the change.
RESEARCH_CHECKPOINT = ".diffusers-integrator/reference/tiny_dit_research.safetensors"
CONVERTED = ".diffusers-integrator/weights/tiny_dit"
RESEARCH_CONFIG = ResearchDiTConfig()
SEED = 0
GENERATED_TESTS = [
    "tests/models/transformers/test_models_transformer_tiny_dit.py",
    "tests/pipelines/tiny_dit",
    "tests/modular_pipelines/tiny_dit",
]


def filled_in(scaffolded: str, name: str) -> str:
    """The finished file: the scaffolded file's licence header, then the body in `tiny_dit_port/<name>.txt`."""
    header = []
    for line in scaffolded.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        header.append(line)
    body = (_SOURCES / f"{name}.txt").read_text(encoding="utf-8")
    return "".join(header) + ("\n" if header else "") + body


def port_source(scaffolded: str) -> str:
    """`transformer_tiny_dit.py` with the research DiT ported into the scaffold's classes and names."""
    return filled_in(scaffolded, "transformer_tiny_dit.py")


def conversion_source(scaffolded: str) -> str:
    """`convert_tiny_dit_to_diffusers.py` with the research DiT's key map and config filled in."""
    return filled_in(scaffolded, "convert_tiny_dit_to_diffusers.py")


def save_research_checkpoint(path: Path, seed: int = SEED) -> Path:
    """The research model's weights, as a release would ship them (safetensors of its own state dict)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state_dict = {
        key: value.contiguous() for key, value in build_reference(RESEARCH_CONFIG, seed=seed).state_dict().items()
    }
    save_file(state_dict, str(path))
    return path


_SPEC = '''"""Component parity: the research DiT vs the tree's TinyDiTTransformer2DModel, on CPU in float32.{title}

The candidate is the model the integration added, imported from this tree's `src/`, with the research checkpoint
converted by the shipped script's key map (`scripts/convert_tiny_dit_to_diffusers.py`).
"""

import sys
from pathlib import Path

import torch

TREE = Path(__file__).resolve().parents[2]
sys.dont_write_bytecode = True  # no __pycache__ left in the tree's src/: it would join the change
sys.path.insert(0, str(TREE / "src"))
for _name in [name for name in sys.modules if name == "diffusers" or name.startswith("diffusers.")]:
    del sys.modules[_name]  # the installed diffusers, if the runner imported it: the tree's must win

from diffusers.models.transformers.transformer_tiny_dit import TinyDiTTransformer2DModel  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from diffusers_integrator.parity.conversion_script import model_from_script  # noqa: E402
from diffusers_integrator.testing.research_dit import build_reference, example_inputs  # noqa: E402
from diffusers_integrator.testing.tiny_dit_integration import (  # noqa: E402
    CONVERSION_SCRIPT,
    RESEARCH_CHECKPOINT,
    RESEARCH_CONFIG,
    SEED,
    save_research_checkpoint,
)

PLANTED_BUG = {bug}


class _CallLikeDiffusers(torch.nn.Module):
    """The reference, called with diffusers' argument names so the outputs line up."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, hidden_states, timestep, encoder_hidden_states):
        return self.model(hidden_states, timestep, encoder_hidden_states)


def _checkpoint():
    path = TREE / RESEARCH_CHECKPOINT
    return path if path.is_file() else save_research_checkpoint(path)


def reference():
    model = build_reference(RESEARCH_CONFIG, seed=SEED)
    model.load_state_dict(load_file(str(_checkpoint())))
    return _CallLikeDiffusers(model)


def candidate():
    model = model_from_script(TREE / CONVERSION_SCRIPT, TinyDiTTransformer2DModel, load_file(str(_checkpoint())))
    if PLANTED_BUG:
        # The conversion "forgot" to reorder the final modulation from [shift, scale] to diffusers' [scale, shift].
        with torch.no_grad():
            for p in (model.norm_out.linear.weight, model.norm_out.linear.bias):
                p.copy_(torch.cat(p.chunk(2)[::-1]))
    return model.eval()


def inputs():
    i = example_inputs(RESEARCH_CONFIG)
    return {{"hidden_states": i["x"], "timestep": i["t"], "encoder_hidden_states": i["context"]}}
'''


def parity_spec(*, planted_bug: bool = False) -> str:
    """The spec's source text; `planted_bug` swaps shift and scale in the converted final modulation."""
    title = " With a planted conversion bug: [shift, scale] left unswapped." if planted_bug else ""
    return _SPEC.format(title=title, bug=planted_bug)
