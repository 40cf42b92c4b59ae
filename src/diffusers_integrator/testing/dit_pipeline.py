"""A tiny flow-matching sampler on both sides, for stage tests with checkpoints.

* `research_sample`: the reference's sampling loop, instrumented with `checkpoint(...)` calls at `preloop`,
  `after_step_{i}` and `post_loop` (named like the diffusers denoiser's arguments, with `latents` for the
  latents).
* `TinyDiTPipeline`: a standard diffusers pipeline (no text encoder or VAE: it takes `prompt_embeds` and returns
  latents), driven in stage tests through `checkpointed_pipeline` without any edit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from ..parity.checkpoint import POST_LOOP, PRELOOP, Checkpoints, after_step, checkpoint


def flow_sigmas(steps: int) -> np.ndarray:
    return np.linspace(1.0, 1.0 / steps, steps)


@torch.no_grad()
def research_sample(
    model: torch.nn.Module,
    context: torch.Tensor,
    seed: int,
    steps: int,
    size: int,
    channels: int,
    checkpoints: Checkpoints | None = None,
) -> torch.Tensor:
    """Euler flow matching from seeded fp32 noise: x <- x + (sigma_next - sigma) * v(x, sigma * 1000)."""
    gen = torch.Generator("cpu").manual_seed(seed)
    x = torch.randn(context.shape[0], channels, size, size, generator=gen, dtype=torch.float32).to(context.device)
    sigmas = torch.from_numpy(flow_sigmas(steps)).to(torch.float32)
    sigmas = torch.cat([sigmas, torch.zeros(1)])
    timesteps = sigmas[:-1] * 1000.0
    t0 = timesteps[:1].expand(x.shape[0]).to(x.device)
    state = checkpoint(checkpoints, PRELOOP, latents=x, timestep=t0, encoder_hidden_states=context)
    x, context = state["latents"], state["encoder_hidden_states"]
    for i in range(steps):
        t = timesteps[i : i + 1].expand(x.shape[0]).to(x.device)
        v = model(x.to(next(model.parameters()).dtype), t, context)
        x = (x.float() + (sigmas[i + 1] - sigmas[i]) * v.float()).to(x.dtype)
        x = checkpoint(checkpoints, after_step(i), latents=x)["latents"]
    return checkpoint(checkpoints, POST_LOOP, latents=x)["latents"]


@dataclass
class TinyDiTPipelineOutput(BaseOutput):
    latents: torch.Tensor


class TinyDiTPipeline(DiffusionPipeline):
    """Text-conditioned latent sampling with `TinyDiTTransformer2DModel` and flow-matching Euler."""

    model_cpu_offload_seq = "transformer"
    _callback_tensor_inputs = ["latents"]

    def __init__(self, transformer, scheduler: FlowMatchEulerDiscreteScheduler):
        super().__init__()
        self.register_modules(transformer=transformer, scheduler=scheduler)

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    def prepare_latents(self, batch, channels, size, dtype, device, generator, latents=None):
        if latents is not None:
            return latents.to(device=device, dtype=dtype)
        return randn_tensor((batch, channels, size, size), generator=generator, device=device, dtype=dtype)

    @torch.no_grad()
    def __call__(
        self,
        prompt_embeds: torch.Tensor,
        height: int = 8,
        width: int = 8,
        num_inference_steps: int = 4,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "latent",
        return_dict: bool = True,
        callback_on_step_end=None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],  # noqa: B006 - diffusers' signature
    ):
        device = self._execution_device
        dtype = self.transformer.dtype
        channels = self.transformer.config.in_channels
        latents = self.prepare_latents(
            prompt_embeds.shape[0], channels, height, torch.float32, device, generator, latents
        )
        self.scheduler.set_timesteps(sigmas=flow_sigmas(num_inference_steps).tolist(), device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        for i, t in enumerate(self.progress_bar(timesteps)):
            timestep = t.expand(latents.shape[0]).to(latents.dtype)
            noise_pred = self.transformer(
                hidden_states=latents.to(dtype),
                timestep=timestep,
                encoder_hidden_states=prompt_embeds.to(dtype),
                return_dict=False,
            )[0]
            latents = self.scheduler.step(noise_pred.float(), t, latents, return_dict=False)[0]
            if callback_on_step_end is not None:
                callback_kwargs = {}
                for k in callback_on_step_end_tensor_inputs:
                    callback_kwargs[k] = locals()[k]
                callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
                latents = callback_outputs.pop("latents", latents)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (latents,)
        return TinyDiTPipelineOutput(latents=latents)
