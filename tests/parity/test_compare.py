"""Tensor, output, config and state-dict comparison."""

import pytest
import torch
from diffusers.models.modeling_outputs import Transformer2DModelOutput

from diffusers_integrator.parity import Tolerance
from diffusers_integrator.parity.compare import (
    compare_outputs,
    compare_tensors,
    default_tolerance,
    diff_configs,
    diff_state_dicts,
    flatten_outputs,
)
from diffusers_integrator.testing.diffusers_dit import TinyDiTTransformer2DModel


def test_default_tolerances_follow_the_dtype():
    assert default_tolerance(torch.float32) == Tolerance(max_abs=1e-3)
    assert default_tolerance(torch.float32, torch.bfloat16) == Tolerance(max_abs=1e-1, min_cosine=0.9999)
    assert default_tolerance("float16").min_cosine == 0.9999


def test_stats_and_verdict_in_words():
    ref = torch.linspace(-2, 2, 1000)
    cand = ref.clone()
    cand[10] += 0.5
    diff = compare_tensors(ref, cand, name="sample")
    assert diff.max_abs == pytest.approx(0.5)
    assert diff.max_rel == pytest.approx(0.25)
    assert 0.99 < diff.cosine < 1.0
    assert not diff.passed and "max abs 0.5 > 0.001" in diff.reason
    assert compare_tensors(ref, ref.clone()).passed


def test_bf16_passes_on_cosine_and_fails_on_direction():
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(4096, generator=gen)
    quantised = ref.to(torch.bfloat16)
    ok = compare_tensors(ref, quantised)
    assert ok.passed and ok.cosine > 0.9999, ok
    shuffled = quantised[torch.randperm(4096, generator=gen)]
    bad = compare_tensors(ref, shuffled)
    assert not bad.passed and "cosine" in bad.reason


def test_shape_and_nan_mismatches_are_failures():
    assert "same element count" in compare_tensors(torch.zeros(2, 6), torch.zeros(3, 4)).reason
    ref = torch.ones(8)
    cand = ref.clone()
    cand[3] = float("nan")
    assert "NaN/Inf differ" in compare_tensors(ref, cand).reason


def test_nested_outputs_are_named_and_paired():
    sample = torch.randn(1, 4, 8, 8)
    flat = flatten_outputs({"a": (sample, [sample]), "b": Transformer2DModelOutput(sample=sample)})
    assert list(flat) == ["output.a[0]", "output.a[1][0]", "output.b.sample"]
    # A research model returns a bare tensor, diffusers a BaseOutput: they pair by position.
    diffs = compare_outputs(sample, Transformer2DModelOutput(sample=sample + 1e-5))
    assert len(diffs) == 1 and diffs[0].passed
    assert diffs[0].name == "output.sample" and diffs[0].reference_name == "output"


def test_missing_outputs_are_reported():
    diffs = compare_outputs({"x": torch.ones(2), "y": torch.ones(2), "z": torch.ones(1)}, {"x": torch.ones(2)})
    reasons = {d.name: d.reason for d in diffs if not d.passed}
    assert set(reasons) == {"output.y", "output.z"}


def test_config_diff_with_key_map():
    model = TinyDiTTransformer2DModel(num_layers=1)
    reference = {"depth": 2, "patch_size": 2, "in_channels": 4, "window": 7}
    diff = diff_configs(reference, model, key_map={"depth": "num_layers"})
    assert [d.key for d in diff.different] == ["num_layers"]
    assert diff.only_in_reference == ["window"]
    assert "rope_theta" in diff.only_in_candidate
    assert diff_configs(model, TinyDiTTransformer2DModel(num_layers=1)).clean


def test_state_dict_diff_names_every_problem():
    model = TinyDiTTransformer2DModel(num_layers=1)
    converted = dict(model.state_dict())
    del converted["proj_out.bias"]
    converted["extra.weight"] = torch.zeros(1)
    converted["x_embedder.weight"] = torch.zeros(3)
    converted["context_embedder.bias"] = converted["context_embedder.bias"] + 1
    diff = diff_state_dicts(converted, model, compare_values=True)
    assert diff.unmapped == ["proj_out.bias"]
    assert diff.unexpected == ["extra.weight"]
    assert [m.key for m in diff.shape_mismatches] == ["x_embedder.weight"]
    assert [m.key for m in diff.value_mismatches] == ["context_embedder.bias"]
    assert not diff.clean
