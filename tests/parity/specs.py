"""Spec files the tests write to disk, as an agent would write them under `.diffusers-integrator/parity/`."""

RESEARCH_COMPONENT = '''
"""Research DiT vs TinyDiTTransformer2DModel, CPU float32."""

import torch

from diffusers_integrator.parity.examples.convert import build_candidate, convert_config
from diffusers_integrator.parity.examples.research_dit import ResearchDiTConfig, build_reference, example_inputs

CONFIG = ResearchDiTConfig(depth={depth})
MUTATE = {mutate!r}


class _CallLikeDiffusers(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, hidden_states, timestep, encoder_hidden_states):
        return self.model(hidden_states, timestep, encoder_hidden_states)


def reference():
    return _CallLikeDiffusers(build_reference(CONFIG))


def candidate():
    model = build_candidate(build_reference(CONFIG).state_dict(), CONFIG)
    if MUTATE == "swap_final_modulation":
        # the conversion forgot to reorder [shift, scale] into diffusers' [scale, shift]
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


def research_component(depth: int = 1, mutate: str | None = None) -> str:
    return RESEARCH_COMPONENT.format(depth=depth, mutate=mutate)


STAGES = '''
"""Stage tests of the tiny sampler: the candidate pipeline draws its noise through bf16 (a planted bug)."""

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from diffusers_integrator.parity import checkpointed_pipeline
from diffusers_integrator.parity.examples.convert import build_candidate
from diffusers_integrator.parity.examples.pipeline import TinyDiTPipeline, research_sample
from diffusers_integrator.parity.examples.research_dit import ResearchDiTConfig, build_reference

CONFIG = ResearchDiTConfig(depth=1)
NOISE_IN_BF16 = {bug}


class Pipeline(TinyDiTPipeline):
    def prepare_latents(self, batch, channels, size, dtype, device, generator, latents=None):
        drawn = latents is None
        latents = super().prepare_latents(batch, channels, size, dtype, device, generator, latents)
        return latents.to(torch.bfloat16).to(dtype) if (NOISE_IN_BF16 and drawn) else latents


def reference():
    model = build_reference(CONFIG)

    def run(context, seed, steps, size, checkpoints=None):
        return research_sample(model, context, seed, steps, size, CONFIG.in_channels, checkpoints=checkpoints)

    return run


def candidate():
    pipe = Pipeline(build_candidate(build_reference(CONFIG).state_dict(), CONFIG), FlowMatchEulerDiscreteScheduler())
    pipe.set_progress_bar_config(disable=True)
    run = checkpointed_pipeline(pipe, rename={{"hidden_states": "latents"}})

    def call(context, seed, steps, size, checkpoints=None):
        generator = torch.Generator("cpu").manual_seed(seed)
        out = run(checkpoints, prompt_embeds=context, generator=generator, num_inference_steps=steps, height=size, width=size)
        return out.latents

    return call


def inputs():
    g = torch.Generator().manual_seed(1)
    return {{"context": torch.randn(1, 5, CONFIG.context_dim, generator=g), "seed": 0, "steps": 6, "size": 8}}


stages = {{
    "encode": {{"preloop": {{"stop": True}}}},
    "denoise": {{"preloop": {{"inject": True}}, "after_step_*": {{}}, "after_step_2": {{"stop": True}}}},
    "loop": {{"after_step_*": {{}}}},
}}
'''


def stages(bug: bool) -> str:
    return STAGES.format(bug=bug)
