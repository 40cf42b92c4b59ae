"""The diffusers port of the research DiT: the "candidate" side of the worked parity example.

Written as a diffusers model file would be: `ModelMixin, ConfigMixin` with `@register_to_config`, the
attention processor (`dispatch_attention_fn`) and the attention module (`AttentionModuleMixin`) in the same
file, diffusers building blocks (`Timesteps`, `TimestepEmbedding`, `AdaLayerNormZero`,
`AdaLayerNormContinuous`, `FeedForward`, `apply_rotary_emb`), a Conv2d patch embedding, and a
`Transformer2DModelOutput`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import AttentionModuleMixin, FeedForward
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.embeddings import TimestepEmbedding, Timesteps, apply_rotary_emb
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import AdaLayerNormContinuous, AdaLayerNormZero


class TinyDiTAttnProcessor:
    """Joint attention over [text, image] tokens, RoPE on the image tokens, through `dispatch_attention_fn`."""

    _attention_backend = None
    _parallel_config = None

    def __call__(
        self,
        attn: TinyDiTAttention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        text_len = encoder_hidden_states.shape[1]
        tokens = torch.cat([encoder_hidden_states, hidden_states], dim=1)
        query = attn.to_q(tokens).unflatten(-1, (attn.heads, -1))
        key = attn.to_k(tokens).unflatten(-1, (attn.heads, -1))
        value = attn.to_v(tokens).unflatten(-1, (attn.heads, -1))

        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        if image_rotary_emb is not None:
            query = torch.cat(
                [query[:, :text_len], apply_rotary_emb(query[:, text_len:], image_rotary_emb, sequence_dim=1)], dim=1
            )
            key = torch.cat(
                [key[:, :text_len], apply_rotary_emb(key[:, text_len:], image_rotary_emb, sequence_dim=1)], dim=1
            )

        hidden_states = dispatch_attention_fn(
            query, key, value, backend=self._attention_backend, parallel_config=self._parallel_config
        )
        hidden_states = hidden_states.flatten(2, 3).to(query.dtype)[:, text_len:]
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        return hidden_states


class TinyDiTAttention(nn.Module, AttentionModuleMixin):
    _default_processor_cls = TinyDiTAttnProcessor
    _available_processors = [TinyDiTAttnProcessor]

    def __init__(
        self, query_dim: int, heads: int, dim_head: int, eps: float = 1e-6, qk_norm: bool = True, processor=None
    ):
        super().__init__()
        self.heads = heads
        self.head_dim = dim_head
        self.inner_dim = heads * dim_head
        self.to_q = nn.Linear(query_dim, self.inner_dim)
        self.to_k = nn.Linear(query_dim, self.inner_dim)
        self.to_v = nn.Linear(query_dim, self.inner_dim)
        self.norm_q = nn.RMSNorm(dim_head, eps=eps) if qk_norm else None
        self.norm_k = nn.RMSNorm(dim_head, eps=eps) if qk_norm else None
        self.to_out = nn.ModuleList([nn.Linear(self.inner_dim, query_dim), nn.Dropout(0.0)])
        self.set_processor(processor if processor is not None else self._default_processor_cls())

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        return self.processor(self, hidden_states, encoder_hidden_states, image_rotary_emb)


class TinyDiTRotaryPosEmbed(nn.Module):
    """Axial 2-D RoPE as real (cos, sin) tables, interleaved pairs (`use_real_unbind_dim=-1`)."""

    def __init__(self, head_dim: int, theta: float = 10000.0):
        super().__init__()
        self.head_dim = head_dim
        self.theta = theta

    def forward(self, grid_h: int, grid_w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        axis = self.head_dim // 2
        freqs = 1.0 / (self.theta ** (torch.arange(0, axis, 2, dtype=torch.float32, device=device) / axis))
        rows = torch.arange(grid_h, dtype=torch.float32, device=device).repeat_interleave(grid_w)
        cols = torch.arange(grid_w, dtype=torch.float32, device=device).repeat(grid_h)
        angles = torch.cat([torch.outer(rows, freqs), torch.outer(cols, freqs)], dim=-1)
        cos = angles.cos().repeat_interleave(2, dim=-1)
        sin = angles.sin().repeat_interleave(2, dim=-1)
        return cos, sin


class TinyDiTTransformerBlock(nn.Module):
    def __init__(self, dim: int, num_attention_heads: int, attention_head_dim: int, mlp_ratio: float, eps: float):
        super().__init__()
        self.norm1 = AdaLayerNormZero(dim)
        self.attn = TinyDiTAttention(dim, num_attention_heads, attention_head_dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(dim, dim, mult=mlp_ratio, activation_fn="gelu-approximate")

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        temb: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        norm_hidden_states, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.norm1(hidden_states, emb=temb)
        attn_output = self.attn(norm_hidden_states, encoder_hidden_states, image_rotary_emb)
        hidden_states = hidden_states + gate_msa.unsqueeze(1) * attn_output
        norm_hidden_states = self.norm2(hidden_states) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        hidden_states = hidden_states + gate_mlp.unsqueeze(1) * self.ff(norm_hidden_states)
        return hidden_states


class TinyDiTTransformer2DModel(ModelMixin, ConfigMixin):
    """A small joint-attention DiT with adaLN-Zero modulation and axial RoPE.

    Args:
        patch_size (`int`, defaults to 2): side of the square patches.
        in_channels (`int`, defaults to 4): latent channels (input and output).
        num_layers (`int`, defaults to 2): transformer blocks.
        num_attention_heads (`int`, defaults to 4): attention heads.
        attention_head_dim (`int`, defaults to 16): channels per head.
        context_dim (`int`, defaults to 32): width of `encoder_hidden_states`.
        mlp_ratio (`float`, defaults to 4.0): feed-forward expansion.
        freq_dim (`int`, defaults to 64): width of the sinusoidal timestep embedding.
        rope_theta (`float`, defaults to 10000.0): RoPE base.
        eps (`float`, defaults to 1e-6): qk-norm epsilon.
    """

    _supports_gradient_checkpointing = False
    _no_split_modules = ["TinyDiTTransformerBlock"]
    _skip_layerwise_casting_patterns = ["x_embedder", "norm"]

    @register_to_config
    def __init__(
        self,
        patch_size: int = 2,
        in_channels: int = 4,
        num_layers: int = 2,
        num_attention_heads: int = 4,
        attention_head_dim: int = 16,
        context_dim: int = 32,
        mlp_ratio: float = 4.0,
        freq_dim: int = 64,
        rope_theta: float = 10000.0,
        eps: float = 1e-6,
    ):
        super().__init__()
        dim = num_attention_heads * attention_head_dim
        self.x_embedder = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.time_proj = Timesteps(freq_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedder = TimestepEmbedding(freq_dim, dim)
        self.context_embedder = nn.Linear(context_dim, dim)
        self.pos_embed = TinyDiTRotaryPosEmbed(attention_head_dim, rope_theta)
        self.transformer_blocks = nn.ModuleList(
            [
                TinyDiTTransformerBlock(dim, num_attention_heads, attention_head_dim, mlp_ratio, eps)
                for _ in range(num_layers)
            ]
        )
        self.norm_out = AdaLayerNormContinuous(dim, dim, elementwise_affine=False, eps=1e-6)
        self.proj_out = nn.Linear(dim, patch_size * patch_size * in_channels)

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        return_dict: bool = True,
    ) -> Transformer2DModelOutput | tuple[torch.Tensor]:
        batch, channels, height, width = hidden_states.shape
        p = self.config.patch_size
        grid_h, grid_w = height // p, width // p

        hidden_states = self.x_embedder(hidden_states).flatten(2).transpose(1, 2)
        temb = self.time_embedder(self.time_proj(timestep).to(hidden_states.dtype))
        encoder_hidden_states = self.context_embedder(encoder_hidden_states)
        image_rotary_emb = self.pos_embed(grid_h, grid_w, hidden_states.device)

        for block in self.transformer_blocks:
            hidden_states = block(hidden_states, encoder_hidden_states, temb, image_rotary_emb)

        hidden_states = self.proj_out(self.norm_out(hidden_states, temb))
        hidden_states = hidden_states.reshape(batch, grid_h, grid_w, p, p, channels)
        output = hidden_states.permute(0, 5, 1, 3, 2, 4).reshape(batch, channels, height, width)
        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)
