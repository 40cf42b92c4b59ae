"""Conversion of the research DiT to `TinyDiTTransformer2DModel`: config and weights.

What a `scripts/convert_<model>_to_diffusers.py` does, with the pitfalls made explicit: the fused `qkv` is split
in q, k, v order, the final modulation is reordered from `[shift, scale]` to diffusers' `[scale, shift]`, and
the patch projection (a Linear over (p, p, C)-ordered patches) becomes a Conv2d kernel (C, p, p).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..parity.convert import Conversion, KeyMap
from .research_dit import ResearchDiTConfig


def convert_config(config: ResearchDiTConfig) -> dict:
    return {
        "patch_size": config.patch_size,
        "in_channels": config.in_channels,
        "num_layers": config.depth,
        "num_attention_heads": config.num_heads,
        "attention_head_dim": config.hidden_size // config.num_heads,
        "context_dim": config.context_dim,
        "mlp_ratio": config.mlp_ratio,
        "freq_dim": config.freq_dim,
        "rope_theta": config.rope_theta,
        "eps": 1e-6,  # the reference's RMSNorm default
    }


def patch_linear_to_conv(weight: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(D, p*p*C) with (p, p, C) ordering -> Conv2d (D, C, p, p)."""
    dim = weight.shape[0]
    channels = weight.shape[1] // (patch_size * patch_size)
    return weight.reshape(dim, patch_size, patch_size, channels).permute(0, 3, 1, 2).contiguous()


def key_map(config: ResearchDiTConfig) -> KeyMap:
    p = config.patch_size
    km = KeyMap()
    km.custom("patch_proj.weight", "x_embedder.weight", lambda w: patch_linear_to_conv(w, p))
    km.rename("patch_proj.bias", "x_embedder.bias")
    km.rename("t_embedder.mlp.0.{p}", "time_embedder.linear_1.{p}")
    km.rename("t_embedder.mlp.2.{p}", "time_embedder.linear_2.{p}")
    km.rename("context_proj.{p}", "context_embedder.{p}")
    km.rename("layers.{i}.adaLN_modulation.1.{p}", "transformer_blocks.{i}.norm1.linear.{p}")
    km.split(
        "layers.{i}.attn.qkv.{p}",
        [
            "transformer_blocks.{i}.attn.to_q.{p}",
            "transformer_blocks.{i}.attn.to_k.{p}",
            "transformer_blocks.{i}.attn.to_v.{p}",
        ],
    )
    km.rename("layers.{i}.attn.q_norm.scale", "transformer_blocks.{i}.attn.norm_q.weight")
    km.rename("layers.{i}.attn.k_norm.scale", "transformer_blocks.{i}.attn.norm_k.weight")
    km.rename("layers.{i}.attn.proj.{p}", "transformer_blocks.{i}.attn.to_out.0.{p}")
    km.rename("layers.{i}.mlp.fc1.{p}", "transformer_blocks.{i}.ff.net.0.proj.{p}")
    km.rename("layers.{i}.mlp.fc2.{p}", "transformer_blocks.{i}.ff.net.2.{p}")
    km.swap("final_layer.adaLN_modulation.1.{p}", "norm_out.linear.{p}")  # [shift, scale] -> [scale, shift]
    km.rename("final_layer.linear.{p}", "proj_out.{p}")
    return km


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor], config: ResearchDiTConfig, target: torch.nn.Module | None = None
) -> Conversion:
    return key_map(config).apply(state_dict, target=target)


def build_candidate(reference_state_dict: Mapping[str, torch.Tensor], config: ResearchDiTConfig):
    """The diffusers model loaded with converted weights; raises if the key map leaves anything out."""
    from .diffusers_dit import TinyDiTTransformer2DModel

    model = TinyDiTTransformer2DModel(**convert_config(config))
    conversion = convert_state_dict(reference_state_dict, config, target=model)
    if not conversion.coverage.complete:
        raise ValueError(f"incomplete conversion: {conversion.coverage.model_dump()}")
    model.load_state_dict(conversion.state_dict, strict=True)
    return model.eval()
