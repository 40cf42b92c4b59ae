"""Conversion helpers: key maps with coverage and provenance, fused splits, chunk swaps, round trip."""

import torch

from diffusers_integrator.parity import KeyMap, fuse, round_trip_check, split_fused, swap_halves
from diffusers_integrator.testing.diffusers_dit import TinyDiTTransformer2DModel
from diffusers_integrator.testing.dit_conversion import build_candidate, convert_state_dict, key_map
from diffusers_integrator.testing.research_dit import ResearchDiTConfig, build_reference, example_inputs


def test_tensor_transforms():
    qkv = torch.arange(12.0).reshape(6, 2)
    q, k, v = split_fused(qkv)
    assert torch.equal(fuse([q, k, v]), qkv)
    assert [t.shape[0] for t in split_fused(qkv, [2, 4])] == [2, 4]
    shift_scale = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert swap_halves(shift_scale).tolist() == [3.0, 4.0, 1.0, 2.0]


def test_key_map_reports_coverage_and_provenance():
    source = {
        "blocks.0.qkv.weight": torch.randn(6, 2),
        "blocks.0.mod.weight": torch.randn(4, 2),
        "blocks.0.ff.weight": torch.randn(2, 3),
        "ema.decay": torch.tensor(0.999),
        "forgotten.weight": torch.randn(1),
    }
    km = (
        KeyMap()
        .split("blocks.{i}.qkv.{p}", ["layers.{i}.to_q.{p}", "layers.{i}.to_k.{p}", "layers.{i}.to_v.{p}"])
        .swap("blocks.{i}.mod.{p}", "layers.{i}.norm.linear.{p}")
        .transpose("blocks.{i}.ff.{p}", "layers.{i}.ff.{p}")
        .drop("ema.{rest*}")
    )
    target = {
        "layers.0.to_q.weight": torch.empty(2, 2),
        "layers.0.to_k.weight": torch.empty(2, 2),
        "layers.0.to_v.weight": torch.empty(2, 2),
        "layers.0.norm.linear.weight": torch.empty(4, 2),
        "layers.0.ff.weight": torch.empty(2, 3),
        "layers.0.out.weight": torch.empty(2, 2),
    }
    conv = km.apply(source, target=target)
    assert conv.coverage.unused_source_keys == ["forgotten.weight"]
    assert conv.coverage.missing_target_keys == ["layers.0.out.weight"]
    assert [m.key for m in conv.coverage.shape_mismatches] == ["layers.0.ff.weight"]
    assert not conv.coverage.complete
    assert conv.provenance["layers.0.to_k.weight"].segments == [(2, 4)]
    assert conv.provenance["layers.0.norm.linear.weight"].segments == [(2, 4), (0, 2)]
    assert conv.provenance["layers.0.ff.weight"].transposed
    assert torch.equal(conv.state_dict["layers.0.to_k.weight"], source["blocks.0.qkv.weight"][2:4])
    assert conv.module_map()["blocks.0.qkv"] == ["layers.0.to_q", "layers.0.to_k", "layers.0.to_v"]


def test_research_conversion_is_complete():
    config = ResearchDiTConfig()
    model = TinyDiTTransformer2DModel(num_layers=config.depth)
    conv = convert_state_dict(build_reference(config).state_dict(), config, target=model)
    assert conv.coverage.complete, conv.coverage
    assert len(key_map(config).rules) > 5


def test_round_trip_through_save_pretrained(tmp_path):
    config = ResearchDiTConfig(depth=1)
    model = build_candidate(build_reference(config).state_dict(), config)
    inputs = example_inputs(config)
    result = round_trip_check(
        model,
        tmp_path / "weights",
        inputs={"hidden_states": inputs["x"], "timestep": inputs["t"], "encoder_hidden_states": inputs["context"]},
    )
    assert result.passed, result
    assert (tmp_path / "weights" / "config.json").is_file()
    assert result.outputs and result.outputs[0].max_abs == 0.0
