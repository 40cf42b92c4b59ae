"""Component parity: the research DiT vs the tree's TinyDiTTransformer2DModel, on CPU in float32. With a planted conversion bug: [shift, scale] left unswapped.

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

PLANTED_BUG = True


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
    return {"hidden_states": i["x"], "timestep": i["t"], "encoder_hidden_states": i["context"]}
