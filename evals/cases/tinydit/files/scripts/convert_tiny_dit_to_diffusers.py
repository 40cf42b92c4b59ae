# Copyright 2026 The HuggingFace Team. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Converts an original TinyDiT checkpoint (the research DiT's `state_dict`, saved as safetensors) to the diffusers
format.

    python scripts/convert_tiny_dit_to_diffusers.py --checkpoint_path /path/to/original.safetensors --output_path /path/to/tiny_dit-diffusers

The key map lives here only: `convert_transformer_state_dict` turns an original state dict into the diffusers one,
and the parity check of the conversion runs it too. What it does beyond renames:
  - the fused `qkv` projection of each block is split into `to_q`, `to_k`, `to_v` (in that order);
  - the patch projection, a Linear over patches flattened as (p, p, C), becomes the Conv2d kernel (C, p, p);
  - the final layer's modulation is stored as (shift, scale) and diffusers' `AdaLayerNormContinuous` chunks
    (scale, shift), so its two halves are swapped.
"""

import argparse
import json

import torch
from safetensors.torch import load_file

from diffusers import TinyDiTTransformer2DModel


# The diffusers config of the released checkpoint (the research model's `ResearchDiTConfig()`: hidden size 64 in
# 4 heads of 16, 2 blocks, MLP ratio 4, 32-channel text states, a 64-channel timestep embedding).
TRANSFORMER_CONFIG = {
    "patch_size": 2,
    "in_channels": 4,
    "num_layers": 2,
    "num_attention_heads": 4,
    "attention_head_dim": 16,
    "text_dim": 32,
    "ffn_dim": 256,
    "freq_dim": 64,
    "axes_dims_rope": (8, 8),
    "rope_theta": 10000.0,
    "eps": 1e-06,
}

# Original key fragment -> diffusers key fragment, applied in order to every key (so a longer fragment that
# contains a shorter one comes first).
TRANSFORMER_KEYS_RENAME = {
    "final_layer.adaLN_modulation.1.": "norm_out.linear.",
    "final_layer.linear.": "proj_out.",
    "patch_proj.": "patch_embed.",
    "t_embedder.mlp.0.": "time_embedder.linear_1.",
    "t_embedder.mlp.2.": "time_embedder.linear_2.",
    "context_proj.": "context_embedder.",
    "layers.": "transformer_blocks.",
    ".adaLN_modulation.1.": ".modulation.",
    ".attn.q_norm.scale": ".attn.norm_q.weight",
    ".attn.k_norm.scale": ".attn.norm_k.weight",
    ".attn.proj.": ".attn.to_out.0.",
    ".mlp.fc1.": ".ff.net.0.proj.",
    ".mlp.fc2.": ".ff.net.2.",
}


def rename_key(key: str) -> str:
    for old, new in TRANSFORMER_KEYS_RENAME.items():
        key = key.replace(old, new)
    return key


def split_fused_qkv(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """
    FUSED QKV: the reference projects queries, keys and values with one Linear whose output rows are q, then k,
    then v (its forward reshapes them as `(3, heads, head_dim)`); diffusers keeps `to_q` / `to_k` / `to_v`.
    """
    converted = {}
    for key, value in state_dict.items():
        if ".attn.qkv." in key:
            prefix, suffix = key.split(".attn.qkv.")
            query, key_proj, value_proj = value.chunk(3, dim=0)
            converted[f"{prefix}.attn.to_q.{suffix}"] = query
            converted[f"{prefix}.attn.to_k.{suffix}"] = key_proj
            converted[f"{prefix}.attn.to_v.{suffix}"] = value_proj
        else:
            converted[key] = value
    return converted


def patch_linear_to_conv(state_dict: dict[str, torch.Tensor], patch_size: int) -> dict[str, torch.Tensor]:
    """
    PATCH EMBEDDING: (inner_dim, p * p * C) over patches flattened as (p, p, C) -> Conv2d (inner_dim, C, p, p).
    """
    weight = state_dict["patch_embed.weight"]
    channels = weight.shape[1] // (patch_size * patch_size)
    state_dict["patch_embed.weight"] = (
        weight.reshape(weight.shape[0], patch_size, patch_size, channels).permute(0, 3, 1, 2).contiguous()
    )
    return state_dict


def swap_shift_scale(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """
    SHIFT/SCALE: the reference's final layer chunks its modulation as (shift, scale), diffusers'
    `AdaLayerNormContinuous` as (scale, shift), so the halves swap. The blocks' six chunks (shift, scale, gate for
    attention, then for the MLP) are in the same order on both sides and stay as they are.
    """
    for name in ("norm_out.linear.weight", "norm_out.linear.bias"):
        shift, scale = state_dict[name].chunk(2, dim=0)
        state_dict[name] = torch.cat([scale, shift], dim=0)
    return state_dict


def convert_transformer_state_dict(
    original: dict[str, torch.Tensor], patch_size: int = TRANSFORMER_CONFIG["patch_size"]
) -> dict[str, torch.Tensor]:
    """The original transformer state dict in, the diffusers one out: renames, fused QKV split, patch kernel,
    modulation order."""
    state_dict = {rename_key(key): value for key, value in original.items()}
    state_dict = split_fused_qkv(state_dict)
    state_dict = patch_linear_to_conv(state_dict, patch_size)
    return swap_shift_scale(state_dict)


def convert_transformer(
    checkpoint_path: str,
    dtype: torch.dtype,
    config: dict | None = None,
) -> TinyDiTTransformer2DModel:
    config = config or TRANSFORMER_CONFIG
    state_dict = convert_transformer_state_dict(load_file(checkpoint_path), config["patch_size"])

    with torch.device("meta"):
        transformer = TinyDiTTransformer2DModel(**config)
    # `strict=True` fails on every key left unmapped or missing, which is what a conversion must prove.
    transformer.load_state_dict(state_dict, strict=True, assign=True)
    return transformer.to(dtype)


def main(args: argparse.Namespace) -> None:
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    config = None
    if args.config_path:
        with open(args.config_path) as file:
            config = json.load(file)
    transformer = convert_transformer(args.checkpoint_path, dtype, config)
    transformer.save_pretrained(f"{args.output_path}/transformer", safe_serialization=True, max_shard_size="5GB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint_path", type=str, required=True, help="Path to the original checkpoint.")
    parser.add_argument("--output_path", type=str, required=True, help="Where to save the diffusers checkpoint.")
    parser.add_argument("--dtype", type=str, default="bf16", choices=["fp32", "fp16", "bf16"])
    parser.add_argument(
        "--config_path", type=str, default=None, help="A JSON file of the diffusers config (default: the one above)."
    )
    main(parser.parse_args())
