"""Checkpoints the weights tests share, core and MCP alike: a research-style state dict to summarise, and the
worked example's conversion written as JSON rules, with the fixtures around it.

The reference is the research-style DiT of `testing/research_dit.py` with seeded weights; the target is what
`save_pretrained` writes for its diffusers port. The fixtures reach the tests through `tests/parity/conftest.py`
and `tests/server/tools/conftest.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from diffusers_integrator.testing.diffusers_dit import TinyDiTTransformer2DModel
from diffusers_integrator.testing.dit_conversion import convert_config
from diffusers_integrator.testing.research_dit import ResearchDiTConfig, build_reference, example_inputs


def _research_state_dict(blocks: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    state = {"patch_embed.proj.weight": torch.randn(32, 4, 2, 2, generator=generator)}
    for i in range(blocks):
        state[f"blocks.{i}.attn.qkv.weight"] = torch.randn(96, 32, generator=generator)
        state[f"blocks.{i}.adaLN_modulation.1.weight"] = torch.randn(192, 32, generator=generator).to(torch.bfloat16)
    return state


CONFIG = ResearchDiTConfig(depth=2)
P, C = CONFIG.patch_size, CONFIG.in_channels
BLOCK = "transformer_blocks.{i}"

# `testing.dit_conversion.key_map` as data: what an agent passes to the tool.
RULES: list[dict] = [
    {
        "op": "reshape",
        "source": "patch_proj.weight",
        "target": "x_embedder.weight",
        "shape": [-1, P, P, C],
        "permute": [0, 3, 1, 2],
    },  # fmt: skip
    {"op": "rename", "source": "patch_proj.bias", "target": "x_embedder.bias"},
    {"op": "rename", "source": "t_embedder.mlp.0.{p}", "target": "time_embedder.linear_1.{p}"},
    {"op": "rename", "source": "t_embedder.mlp.2.{p}", "target": "time_embedder.linear_2.{p}"},
    {"op": "rename", "source": "context_proj.{p}", "target": "context_embedder.{p}"},
    {"op": "rename", "source": "layers.{i}.adaLN_modulation.1.{p}", "target": f"{BLOCK}.norm1.linear.{{p}}"},
    {
        "op": "split",
        "source": "layers.{i}.attn.qkv.{p}",
        "targets": [f"{BLOCK}.attn.to_{x}.{{p}}" for x in "qkv"],
    },
    {"op": "rename", "source": "layers.{i}.attn.q_norm.scale", "target": f"{BLOCK}.attn.norm_q.weight"},
    {"op": "rename", "source": "layers.{i}.attn.k_norm.scale", "target": f"{BLOCK}.attn.norm_k.weight"},
    {"op": "rename", "source": "layers.{i}.attn.proj.{p}", "target": f"{BLOCK}.attn.to_out.0.{{p}}"},
    {"op": "rename", "source": "layers.{i}.mlp.fc1.{p}", "target": f"{BLOCK}.ff.net.0.proj.{{p}}"},
    {"op": "rename", "source": "layers.{i}.mlp.fc2.{p}", "target": f"{BLOCK}.ff.net.2.{{p}}"},
    {"op": "swap", "source": "final_layer.adaLN_modulation.1.{p}", "target": "norm_out.linear.{p}"},
    {"op": "rename", "source": "final_layer.linear.{p}", "target": "proj_out.{p}"},
]
SPLIT = 6  # the index of the qkv rule


@pytest.fixture(scope="module")
def reference_state() -> dict[str, torch.Tensor]:
    return build_reference(CONFIG).state_dict()


@pytest.fixture(scope="module")
def target_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `save_pretrained` writes for a freshly built port: the keys and shapes the conversion must fill."""
    folder = tmp_path_factory.mktemp("target") / "transformer"
    TinyDiTTransformer2DModel(**convert_config(CONFIG)).save_pretrained(folder)
    return folder


@pytest.fixture
def source(workspace: Path, reference_state: dict[str, torch.Tensor]) -> str:
    """The reference checkpoint inside the checkout, by its path relative to the root."""
    (workspace / "ckpts").mkdir()
    save_file(reference_state, workspace / "ckpts" / "research.safetensors")
    return "ckpts/research.safetensors"


def _port_output_diff(folder: Path) -> float:
    reference = build_reference(CONFIG)
    candidate = TinyDiTTransformer2DModel.from_pretrained(folder).eval()
    inputs = example_inputs(CONFIG)
    with torch.no_grad():
        expected = reference(**inputs)
        actual = candidate(hidden_states=inputs["x"], timestep=inputs["t"], encoder_hidden_states=inputs["context"])
    return (expected - actual.sample).abs().max().item()


def _rules_without(index: int) -> list[dict]:
    return [rule for i, rule in enumerate(RULES) if i != index]
