"""Spec files the tests write to disk, as an agent would write them under `.diffusers-integrator/specs/`."""

from pathlib import Path

from diffusers_integrator.testing.parity_specs import research_component_spec


def research_component(depth: int = 1, mutate: str | None = None) -> str:
    """The shared worked-example spec; `mutate="swap_final_modulation"` plants the conversion bug."""
    return research_component_spec(depth=depth, planted_bug=mutate == "swap_final_modulation")


def _write_spec(workspace: Path, name: str, text: str) -> str:
    spec = workspace / ".diffusers-integrator" / "specs" / name
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(text)
    return spec.relative_to(workspace).as_posix()


STAGES = '''
"""Stage tests of the tiny sampler: the candidate pipeline draws its noise through bf16 (a planted bug)."""

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from diffusers_integrator.parity import checkpointed_pipeline
from diffusers_integrator.testing.dit_conversion import build_candidate
from diffusers_integrator.testing.dit_pipeline import TinyDiTPipeline, research_sample
from diffusers_integrator.testing.research_dit import ResearchDiTConfig, build_reference

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
