"""Component parity: the research DiT vs TinyDiTTransformer2DModel, on CPU in float32. With a planted conversion bug: [shift, scale] left unswapped."""

import torch

from diffusers_integrator.testing.dit_conversion import build_candidate, convert_config
from diffusers_integrator.testing.research_dit import ResearchDiTConfig, build_reference, example_inputs

CONFIG = ResearchDiTConfig(depth=2)
PLANTED_BUG = True


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
    return {"hidden_states": i["x"], "timestep": i["t"], "encoder_hidden_states": i["context"]}


def configs():
    from diffusers_integrator.testing.diffusers_dit import TinyDiTTransformer2DModel

    return convert_config(CONFIG), TinyDiTTransformer2DModel(**convert_config(CONFIG))
