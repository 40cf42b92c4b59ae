"""The configurations the scaffold writes: placeholder defaults, and the tiny test configuration.

Defaults are the size of a typical released DiT (the agent replaces them with the checkpoint's config); the
tiny configuration is what the generated tests, docs examples and our own checks run on CPU in seconds. Both
live here so the model template, the test templates and our tests never disagree.
"""

from __future__ import annotations

from typing import Any


def transformer_defaults(dims: str) -> dict[str, Any]:
    """`__init__` defaults of the scaffolded transformer (placeholders for the real checkpoint's config)."""
    sizes = _transformer_sizes(dims, channels=16, layers=28, heads=24, head_dim=128, text_dim=4096, ffn_dim=12288)
    rope = (64, 64) if dims == "2d" else (32, 48, 48)
    return {**sizes, "freq_dim": 256, "axes_dims_rope": rope, "rope_theta": 10000.0, "eps": 1e-6}


def tiny_transformer_config(dims: str) -> dict[str, Any]:
    """A transformer that runs a forward pass on CPU in milliseconds."""
    sizes = _transformer_sizes(dims, channels=4, layers=2, heads=2, head_dim=8, text_dim=32, ffn_dim=32)
    return {**sizes, "freq_dim": 32, "axes_dims_rope": (4, 4) if dims == "2d" else (2, 2, 4)}


def _transformer_sizes(
    dims: str, *, channels: int, layers: int, heads: int, head_dim: int, text_dim: int, ffn_dim: int
) -> dict[str, Any]:
    """The size arguments, in the order the transformer template's `__init__` takes them."""
    return {
        "patch_size": 2 if dims == "2d" else (1, 2, 2),
        "in_channels": channels,
        "num_layers": layers,
        "num_attention_heads": heads,
        "attention_head_dim": head_dim,
        "text_dim": text_dim,
        "ffn_dim": ffn_dim,
    }


def tiny_vae_config(dims: str) -> dict[str, Any]:
    """`AutoencoderKL` (images) or `AutoencoderKLWan` (videos) with 4 latent channels."""
    if dims == "2d":
        return {
            "in_channels": 3,
            "out_channels": 3,
            "down_block_types": ("DownEncoderBlock2D", "DownEncoderBlock2D"),
            "up_block_types": ("UpDecoderBlock2D", "UpDecoderBlock2D"),
            "block_out_channels": (8, 16),
            "layers_per_block": 1,
            "latent_channels": 4,
            "norm_num_groups": 8,
            "sample_size": 32,
            "scaling_factor": 1.5,
            "shift_factor": 0.1,
        }
    return {
        "base_dim": 3,
        "z_dim": 4,
        # Lists, not tuples: AutoencoderKLWan concatenates them with lists.
        "dim_mult": [1, 1, 1, 1],
        "num_res_blocks": 1,
        "temperal_downsample": [False, True, True],
        "latents_mean": [0.1, -0.1, 0.2, -0.2],
        "latents_std": [1.5, 2.0, 1.0, 0.5],
    }


def autoencoder_defaults(dims: str) -> dict[str, Any]:
    """`__init__` defaults of the scaffolded autoencoder (placeholders for the real checkpoint's config)."""
    defaults: dict[str, Any] = {
        "latent_channels": 16,
        "block_out_channels": (128, 256, 512, 512),
        "layers_per_block": 2,
        "norm_num_groups": 32,
    }
    if dims == "2d":
        defaults["scaling_factor"] = 1.0
    else:
        defaults["scale_factor_spatial"] = 8
    return defaults


def tiny_autoencoder_config(dims: str) -> dict[str, Any]:
    """The scaffolded autoencoder at test size: 4 latent channels, 2x spatial compression."""
    config: dict[str, Any] = {
        "latent_channels": 4,
        "block_out_channels": (8, 16),
        "layers_per_block": 1,
        "norm_num_groups": 4,
    }
    if dims == "2d":
        config["scaling_factor"] = 1.5
        config["shift_factor"] = 0.1
    else:
        config["scale_factor_spatial"] = 2
    return config


def vae_factors(dims: str, own_autoencoder: bool) -> tuple[int, int]:
    """(spatial, temporal) compression of the VAE the tiny pipelines use."""
    if own_autoencoder:
        return 2, 1
    return (2, 1) if dims == "2d" else (8, 4)


def tiny_text_encoder_config() -> dict[str, Any]:
    """A two-layer `T5EncoderModel` whose hidden size matches the tiny transformer's `text_dim`."""
    return {
        "vocab_size": 64,
        "d_model": 32,
        "d_kv": 8,
        "d_ff": 37,
        "num_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
        "dropout_rate": 0.0,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }


# The words of the tiny word-level tokenizer the generated tests build in code (no download).
TINY_VOCAB_WORDS = (
    "a cat dog sits on the mat in sun holding sign that says hello world photo of painting squirrel eating "
    "burger dance monkey red blue green"
).split()


def tiny_call_kwargs(dims: str) -> dict[str, Any]:
    """Call arguments that keep a two-step run of the tiny pipeline well under a second."""
    kwargs: dict[str, Any] = {"height": 32, "width": 32, "num_inference_steps": 2, "max_sequence_length": 16}
    if dims == "3d":
        kwargs["num_frames"] = 5
    return kwargs
