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

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...configuration_utils import ConfigMixin, register_to_config
from ...utils import logging
from ...utils.torch_utils import maybe_allow_in_graph
from ..attention import AttentionMixin, AttentionModuleMixin, FeedForward
from ..attention_dispatch import dispatch_attention_fn
from ..cache_utils import CacheMixin
from ..embeddings import TimestepEmbedding, Timesteps, apply_rotary_emb, get_1d_rotary_pos_embed
from ..modeling_outputs import Transformer2DModelOutput
from ..modeling_utils import ModelMixin
from ..normalization import AdaLayerNormContinuous, RMSNorm


logger = logging.get_logger(__name__)  # pylint: disable=invalid-name


def _get_qkv_projections(
    attn: "TinyDiTAttention", hidden_states: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # After `fuse_qkv_projections()` the three projections are one matmul (the reference's own fused `qkv`).
    if getattr(attn, "fused_projections", False):
        return attn.to_qkv(hidden_states).chunk(3, dim=-1)
    return attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)


class TinyDiTAttnProcessor:
    """
    Attention processor of [`TinyDiTAttention`]: joint attention over the text tokens followed by the image tokens,
    with queries and keys normalized per head and the rotary embedding applied to the image tokens only. Attention is
    computed with `dispatch_attention_fn`, so that every attention backend of diffusers can run the model.
    """

    _attention_backend = None
    _parallel_config = None

    def __init__(self):
        if not hasattr(F, "scaled_dot_product_attention"):
            raise ImportError(f"{self.__class__.__name__} requires PyTorch 2.0 or higher.")

    def __call__(
        self,
        attn: "TinyDiTAttention",
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        text_seq_len = encoder_hidden_states.shape[1]
        hidden_states = torch.cat([encoder_hidden_states, hidden_states], dim=1)
        query, key, value = _get_qkv_projections(attn, hidden_states)

        # (batch, seq_len, heads * head_dim) -> (batch, seq_len, heads, head_dim)
        query = query.unflatten(-1, (attn.heads, -1))
        key = key.unflatten(-1, (attn.heads, -1))
        value = value.unflatten(-1, (attn.heads, -1))

        query = attn.norm_q(query)
        key = attn.norm_k(key)

        if image_rotary_emb is not None:
            query = torch.cat(
                [query[:, :text_seq_len], apply_rotary_emb(query[:, text_seq_len:], image_rotary_emb, sequence_dim=1)],
                dim=1,
            )
            key = torch.cat(
                [key[:, :text_seq_len], apply_rotary_emb(key[:, text_seq_len:], image_rotary_emb, sequence_dim=1)],
                dim=1,
            )

        hidden_states = dispatch_attention_fn(
            query,
            key,
            value,
            attn_mask=attention_mask,
            backend=self._attention_backend,
            parallel_config=self._parallel_config,
        )
        hidden_states = hidden_states.flatten(2, 3)
        hidden_states = hidden_states.to(query.dtype)

        # Only the image tokens go on: the text tokens are re-read from the embedder in every block.
        hidden_states = hidden_states[:, text_seq_len:]
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        return hidden_states


class TinyDiTAttention(nn.Module, AttentionModuleMixin):
    """
    Joint self-attention of TinyDiT over the concatenated text and image tokens. The computation lives in the
    processor (see [`TinyDiTAttnProcessor`]).

    Args:
        query_dim (`int`): Number of channels of the tokens (and of the output).
        heads (`int`, defaults to `8`): Number of attention heads.
        dim_head (`int`, defaults to `64`): Number of channels in each head.
        bias (`bool`, defaults to `True`): Whether the query, key and value projections have a bias.
        out_bias (`bool`, defaults to `True`): Whether the output projection has a bias.
        eps (`float`, defaults to `1e-6`): Epsilon of the query and key RMS norms.
        processor (*optional*): The attention processor; [`TinyDiTAttnProcessor`] when `None`.
    """

    _default_processor_cls = TinyDiTAttnProcessor
    _available_processors = [TinyDiTAttnProcessor]

    def __init__(
        self,
        query_dim: int,
        heads: int = 8,
        dim_head: int = 64,
        bias: bool = True,
        out_bias: bool = True,
        eps: float = 1e-6,
        processor=None,
    ):
        super().__init__()

        self.inner_dim = dim_head * heads
        self.heads = heads
        self.use_bias = bias
        self.is_cross_attention = False

        self.to_q = nn.Linear(query_dim, self.inner_dim, bias=bias)
        self.to_k = nn.Linear(query_dim, self.inner_dim, bias=bias)
        self.to_v = nn.Linear(query_dim, self.inner_dim, bias=bias)
        self.norm_q = RMSNorm(dim_head, eps=eps)
        self.norm_k = RMSNorm(dim_head, eps=eps)
        self.to_out = nn.ModuleList([nn.Linear(self.inner_dim, query_dim, bias=out_bias), nn.Dropout(0.0)])

        if processor is None:
            processor = self._default_processor_cls()
        self.set_processor(processor)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs,
    ) -> torch.Tensor:
        return self.processor(self, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb, **kwargs)


class TinyDiTRotaryPosEmbed(nn.Module):
    """
    Rotary position embedding over the (height, width) grid of patches: each axis rotates its own slice of the head
    channels (`axes_dim` sums to the head dimension), as consecutive pairs of channels.
    """

    def __init__(self, theta: float, axes_dim: tuple[int, ...]):
        super().__init__()
        self.theta = theta
        self.axes_dim = axes_dim

    def forward(self, grid_size: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        # Positions stay in float32 whatever the model dtype: rotary phases lose precision in half precision.
        axes = [torch.arange(size, device=device, dtype=torch.float32) for size in grid_size]
        coordinates = torch.meshgrid(*axes, indexing="ij")
        freqs_cos, freqs_sin = [], []
        for axis_dim, coordinate in zip(self.axes_dim, coordinates):
            cos, sin = get_1d_rotary_pos_embed(
                axis_dim,
                coordinate.flatten(),
                theta=self.theta,
                use_real=True,
                repeat_interleave_real=True,
                freqs_dtype=torch.float32,
            )
            freqs_cos.append(cos)
            freqs_sin.append(sin)
        return torch.cat(freqs_cos, dim=-1), torch.cat(freqs_sin, dim=-1)


@maybe_allow_in_graph
class TinyDiTTransformerBlock(nn.Module):
    """
    One DiT block: joint attention over the text and image tokens and a feed-forward network, both modulated by the
    timestep embedding (adaLN-Zero: shift, scale and gate for each).

    Args:
        dim (`int`): Number of channels of the hidden states.
        num_attention_heads (`int`): Number of attention heads.
        attention_head_dim (`int`): Number of channels in each head.
        ffn_dim (`int`): Hidden size of the feed-forward network.
        eps (`float`, defaults to `1e-6`): Epsilon of the layer norms and of the query and key norms.
    """

    def __init__(self, dim: int, num_attention_heads: int, attention_head_dim: int, ffn_dim: int, eps: float = 1e-6):
        super().__init__()

        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=eps)
        self.attn = TinyDiTAttention(
            query_dim=dim,
            heads=num_attention_heads,
            dim_head=attention_head_dim,
            eps=eps,
        )
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=eps)
        self.ff = FeedForward(dim, inner_dim=ffn_dim, activation_fn="gelu-approximate")

        # Six modulation vectors per block, in this order: shift, scale, gate for attention, then for the MLP.
        self.modulation = nn.Linear(dim, 6 * dim)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        temb: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (
            self.modulation(F.silu(temb)).unsqueeze(1).chunk(6, dim=-1)
        )

        # 1. Modulated joint attention: the image tokens attend to the text tokens and to each other
        norm_hidden_states = self.norm1(hidden_states) * (1 + scale_msa) + shift_msa
        attn_output = self.attn(
            norm_hidden_states,
            encoder_hidden_states=encoder_hidden_states,
            attention_mask=attention_mask,
            image_rotary_emb=image_rotary_emb,
        )
        hidden_states = hidden_states + gate_msa * attn_output

        # 2. Modulated feed-forward
        norm_hidden_states = self.norm2(hidden_states) * (1 + scale_mlp) + shift_mlp
        hidden_states = hidden_states + gate_mlp * self.ff(norm_hidden_states)
        return hidden_states


class TinyDiTTransformer2DModel(ModelMixin, ConfigMixin, CacheMixin, AttentionMixin):
    r"""
    The TinyDiT diffusion transformer for images: patch tokens and projected text tokens in one joint attention per
    block, adaLN-Zero modulation by the timestep, and an axial rotary embedding over the patch grid.

    Args:
        patch_size (`int`, defaults to `2`):
            Size of the patches the latents are cut into.
        in_channels (`int`, defaults to `4`):
            Number of channels of the input latents.
        out_channels (`int`, *optional*):
            Number of channels of the output; `in_channels` when `None`.
        num_layers (`int`, defaults to `2`):
            Number of transformer blocks.
        num_attention_heads (`int`, defaults to `4`):
            Number of attention heads.
        attention_head_dim (`int`, defaults to `16`):
            Number of channels in each head.
        text_dim (`int`, defaults to `32`):
            Number of channels of the text encoder's hidden states.
        ffn_dim (`int`, defaults to `256`):
            Hidden size of the feed-forward networks.
        freq_dim (`int`, defaults to `64`):
            Number of sinusoidal channels of the timestep embedding.
        axes_dims_rope (`tuple[int, ...]`, defaults to `(8, 8)`):
            Head channels given to each axis of the rotary embedding; they must sum to `attention_head_dim`.
        rope_theta (`float`, defaults to `10000.0`):
            Base of the rotary embedding frequencies.
        eps (`float`, defaults to `1e-06`):
            Epsilon of the normalization layers.
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["TinyDiTTransformerBlock"]
    _skip_layerwise_casting_patterns = ["patch_embed", "norm"]
    _repeated_blocks = ["TinyDiTTransformerBlock"]

    @register_to_config
    def __init__(
        self,
        patch_size: int = 2,
        in_channels: int = 4,
        out_channels: int | None = None,
        num_layers: int = 2,
        num_attention_heads: int = 4,
        attention_head_dim: int = 16,
        text_dim: int = 32,
        ffn_dim: int = 256,
        freq_dim: int = 64,
        axes_dims_rope: tuple[int, ...] = (8, 8),
        rope_theta: float = 10000.0,
        eps: float = 1e-06,
    ):
        super().__init__()

        out_channels = out_channels or in_channels
        inner_dim = num_attention_heads * attention_head_dim
        if sum(axes_dims_rope) != attention_head_dim:
            raise ValueError(
                f"`axes_dims_rope` {axes_dims_rope} must sum to `attention_head_dim` ({attention_head_dim})."
            )

        # 1. Patch, position, timestep and text embeddings
        self.patch_embed = nn.Conv2d(in_channels, inner_dim, kernel_size=patch_size, stride=patch_size)
        self.rope = TinyDiTRotaryPosEmbed(theta=rope_theta, axes_dim=axes_dims_rope)
        self.time_proj = Timesteps(num_channels=freq_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedder = TimestepEmbedding(in_channels=freq_dim, time_embed_dim=inner_dim)
        self.context_embedder = nn.Linear(text_dim, inner_dim)

        # 2. Transformer blocks
        self.transformer_blocks = nn.ModuleList(
            [
                TinyDiTTransformerBlock(
                    dim=inner_dim,
                    num_attention_heads=num_attention_heads,
                    attention_head_dim=attention_head_dim,
                    ffn_dim=ffn_dim,
                    eps=eps,
                )
                for _ in range(num_layers)
            ]
        )

        # 3. Output norm (modulated by the timestep, chunked as scale then shift) and projection back to patches
        self.norm_out = AdaLayerNormContinuous(inner_dim, inner_dim, elementwise_affine=False, eps=eps)
        self.proj_out = nn.Linear(inner_dim, patch_size * patch_size * out_channels)

        self.gradient_checkpointing = False

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
    ) -> torch.Tensor | Transformer2DModelOutput:
        """
        The [`TinyDiTTransformer2DModel`] forward method.

        Args:
            hidden_states (`torch.Tensor` of shape `(batch_size, in_channels, height, width)`):
                The noisy latents.
            encoder_hidden_states (`torch.Tensor` of shape `(batch_size, text_seq_len, text_dim)`):
                The text encoder's hidden states.
            timestep (`torch.Tensor` of shape `(batch_size,)`):
                The denoising timestep of each sample, in [0, 1000).
            encoder_attention_mask (`torch.Tensor` of shape `(batch_size, text_seq_len)`, *optional*):
                1 for text tokens to attend to, 0 for padding.
            attention_kwargs (`dict`, *optional*):
                Extra arguments from the pipeline (the pipelines pass them to every transformer).
            return_dict (`bool`, defaults to `True`):
                Whether to return a [`~models.modeling_outputs.Transformer2DModelOutput`] instead of a tuple.

        Returns:
            [`~models.modeling_outputs.Transformer2DModelOutput`] or `tuple`: the predicted velocity, shaped like
            `hidden_states` when `out_channels == in_channels`.
        """
        batch_size, _, height, width = hidden_states.shape
        p = self.config.patch_size
        post_patch_height, post_patch_width = height // p, width // p

        image_rotary_emb = self.rope((post_patch_height, post_patch_width), hidden_states.device)

        # 1. Patchify: (batch, channels, height, width) -> (batch, num_patches, inner_dim)
        hidden_states = self.patch_embed(hidden_states)
        hidden_states = hidden_states.flatten(2).transpose(1, 2)

        # 2. Timestep and text embeddings
        temb = self.time_embedder(self.time_proj(timestep).to(hidden_states.dtype))
        encoder_hidden_states = self.context_embedder(encoder_hidden_states)

        attention_mask = None
        if encoder_attention_mask is not None:
            # Joint attention over [text, image]: the image tokens are never masked.
            image_mask = encoder_attention_mask.new_ones(batch_size, hidden_states.shape[1])
            attention_mask = torch.cat([encoder_attention_mask, image_mask], dim=1).bool()[:, None, None, :]

        # 3. Transformer blocks
        for block in self.transformer_blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                hidden_states = self._gradient_checkpointing_func(
                    block, hidden_states, encoder_hidden_states, temb, image_rotary_emb, attention_mask
                )
            else:
                hidden_states = block(hidden_states, encoder_hidden_states, temb, image_rotary_emb, attention_mask)

        # 4. Output norm and projection
        hidden_states = self.norm_out(hidden_states, temb)
        hidden_states = self.proj_out(hidden_states)

        # 5. Unpatchify
        hidden_states = hidden_states.reshape(batch_size, post_patch_height, post_patch_width, p, p, -1)
        hidden_states = hidden_states.permute(0, 5, 1, 3, 2, 4)
        output = hidden_states.reshape(batch_size, -1, post_patch_height * p, post_patch_width * p)

        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)
