"""A research-style DiT: the "reference implementation" side of the worked parity example.

Deliberately unlike diffusers in the ways real research code is: module names (`layers`, `patch_proj`,
`adaLN_modulation`), a fused `qkv` projection, `[shift, scale, gate]` modulation chunks (and `[shift, scale]`
in the final layer), patches cut by hand in (p, p, C) order and embedded with a Linear, an axial 2-D RoPE
applied with complex numbers on interleaved pairs, its own RMSNorm whose parameter is called `scale`, and a
hand-written softmax attention.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn


@dataclass
class ResearchDiTConfig:
    patch_size: int = 2
    in_channels: int = 4
    hidden_size: int = 64
    depth: int = 2
    num_heads: int = 4
    context_dim: int = 32
    mlp_ratio: float = 4.0
    freq_dim: int = 64
    rope_theta: float = 10000.0

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * self.scale.float()).to(dtype)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """DiT's sinusoidal embedding: [cos, sin] halves."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size: int, freq_dim: int):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim).to(self.mlp[0].weight.dtype))


class AxialRope(nn.Module):
    """2-D RoPE over (row, column) patch positions; half the head dim each, as complex rotations."""

    def __init__(self, head_dim: int, theta: float):
        super().__init__()
        self.head_dim = head_dim
        self.theta = theta

    def forward(self, grid_h: int, grid_w: int, device: torch.device) -> torch.Tensor:
        axis = self.head_dim // 2
        freqs = 1.0 / (self.theta ** (torch.arange(0, axis, 2, dtype=torch.float32, device=device) / axis))
        rows = torch.arange(grid_h, dtype=torch.float32, device=device).repeat_interleave(grid_w)
        cols = torch.arange(grid_w, dtype=torch.float32, device=device).repeat(grid_h)
        angles = torch.cat([torch.outer(rows, freqs), torch.outer(cols, freqs)], dim=-1)  # (N, head_dim / 2)
        return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """x: (B, H, N, D); consecutive pairs (x0, x1) rotate as one complex number."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * freqs[None, None]).flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.q_norm = RMSNorm(self.head_dim)
        self.k_norm = RMSNorm(self.head_dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        tokens = torch.cat([context, x], dim=1)
        qkv = self.qkv(tokens).reshape(b, tokens.shape[1], 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        # RoPE on the image tokens only; the text tokens come first.
        ctx = context.shape[1]
        q = torch.cat([q[:, :, :ctx], apply_rope(q[:, :, ctx:], freqs)], dim=2)
        k = torch.cat([k[:, :, :ctx], apply_rope(k[:, :, ctx:], freqs)], dim=2)
        attn = (q @ k.transpose(-2, -1)) * self.head_dim**-0.5
        out = attn.softmax(dim=-1) @ v
        out = out.transpose(1, 2).reshape(b, tokens.shape[1], -1)[:, ctx:]
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor, context: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa), context, freqs)
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    def __init__(self, dim: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class ResearchDiT(nn.Module):
    """forward(x (B, C, H, W), t (B,) in [0, 1000), context (B, L, context_dim)) -> (B, C, H, W)."""

    def __init__(self, config: ResearchDiTConfig):
        super().__init__()
        self.config = config
        c = config
        self.patch_proj = nn.Linear(c.patch_size * c.patch_size * c.in_channels, c.hidden_size)
        self.t_embedder = TimestepEmbedder(c.hidden_size, c.freq_dim)
        self.context_proj = nn.Linear(c.context_dim, c.hidden_size)
        self.rope = AxialRope(c.hidden_size // c.num_heads, c.rope_theta)
        self.layers = nn.ModuleList([DiTBlock(c.hidden_size, c.num_heads, c.mlp_ratio) for _ in range(c.depth)])
        self.final_layer = FinalLayer(c.hidden_size, c.patch_size, c.in_channels)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        b, ch, h, w = x.shape
        p = self.config.patch_size
        x = x.reshape(b, ch, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)  # (B, h, w, p, p, C)
        return x.reshape(b, (h // p) * (w // p), p * p * ch)

    def unpatchify(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b = x.shape[0]
        p, ch = self.config.patch_size, self.config.in_channels
        x = x.reshape(b, h // p, w // p, p, p, ch).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, ch, h, w)

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        p = self.config.patch_size
        tokens = self.patch_proj(self.patchify(x))
        c = self.t_embedder(t)
        context = self.context_proj(context)
        freqs = self.rope(h // p, w // p, x.device)
        for layer in self.layers:
            tokens = layer(tokens, c, context, freqs)
        return self.unpatchify(self.final_layer(tokens, c), h, w)


def randomize_(model: nn.Module, seed: int = 0, std: float = 0.05) -> nn.Module:
    """Give every parameter distinct seeded values (norm scales around 1): trained-looking weights, so that
    zero-initialised modulations or all-ones norms do not hide bugs, and weights can be told apart by value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float32) * std
            is_norm_scale = (
                param.ndim == 1 and (name.endswith("scale") or "norm" in name) and name.endswith(("scale", "weight"))
            )
            param.copy_((1.0 + noise) if is_norm_scale else noise)
    return model


def build_reference(config: ResearchDiTConfig | None = None, seed: int = 0) -> ResearchDiT:
    return randomize_(ResearchDiT(config or ResearchDiTConfig()), seed=seed).eval()


def example_inputs(
    config: ResearchDiTConfig | None = None, batch: int = 1, size: int = 8, text_len: int = 5, seed: int = 0
):
    """Deterministic inputs by the reference's argument names: x, t (fractional, as samplers pass), context."""
    c = config or ResearchDiTConfig()
    gen = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(batch, c.in_channels, size, size, generator=gen),
        "t": torch.rand(batch, generator=gen) * 1000.0,
        "context": torch.randn(batch, text_len, c.context_dim, generator=gen),
    }


__all__ = ["ResearchDiT", "ResearchDiTConfig", "build_reference", "example_inputs", "randomize_"]
