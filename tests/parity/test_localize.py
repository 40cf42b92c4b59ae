"""Alignment and localisation on the research pair (different names) and on diffusers' Flux (same names)."""

import pytest
import torch

from diffusers_integrator.parity.align import ModelIndex, align_modules
from diffusers_integrator.parity.compare import compare_outputs
from diffusers_integrator.parity.diagnose import diagnose
from diffusers_integrator.parity.localize import localize_models
from diffusers_integrator.testing.dit_conversion import build_candidate
from diffusers_integrator.testing.mutations import all_cases
from diffusers_integrator.testing.research_dit import ResearchDiTConfig, build_reference


CONFIG = ResearchDiTConfig(depth=1)


def test_values_align_fused_swapped_and_permuted_weights():
    ref = build_reference(CONFIG)
    cand = build_candidate(ref.state_dict(), CONFIG)
    alignment = align_modules(ModelIndex.from_model(ref), ModelIndex.from_model(cand))
    by = alignment.modules
    assert by["transformer_blocks.0.attn.to_k"].describe_reference() == "layers.0.attn.qkv[64:128]"
    assert by["transformer_blocks.0.attn.norm_q"].describe_reference() == "layers.0.attn.q_norm"
    out = by["norm_out.linear"]
    assert [(s.start, s.stop) for s in out.sources] == [(64, 128), (0, 64)]  # [shift, scale] -> [scale, shift]
    assert by["x_embedder"].permuted_columns  # Linear over (p, p, C) patches vs Conv2d (C, p, p)
    assert alignment.summary.aligned == alignment.summary.candidate_modules
    assert not alignment.summary.anomalies


def test_weight_map_and_transposed_reference():
    ref = torch.nn.Sequential(torch.nn.Linear(8, 24), torch.nn.Linear(8, 8))
    cand = torch.nn.ModuleDict({"q": torch.nn.Linear(8, 8), "k": torch.nn.Linear(8, 8), "v": torch.nn.Linear(8, 8)})
    with torch.no_grad():
        for i, n in enumerate("qkv"):
            cand[n].weight.copy_(ref[0].weight[8 * i : 8 * (i + 1)])
            cand[n].bias.copy_(ref[0].bias[8 * i : 8 * (i + 1)])
    alignment = align_modules(
        ModelIndex.from_model(ref), ModelIndex.from_model(cand), weight_map={"0": ["q", "k", "v"]}
    )
    assert alignment.modules["v"].method == "weight_map"
    assert alignment.modules["v"].describe_reference() == "0[16:24]"

    x_at_w = ModelIndex.from_model(torch.nn.Linear(8, 6))
    linear = torch.nn.Linear(6, 8, bias=False)
    custom = torch.nn.Module()
    custom.proj = torch.nn.Linear(8, 6, bias=False)
    with torch.no_grad():
        custom.proj.weight.copy_(torch.randn(6, 8))
        linear.weight.copy_(custom.proj.weight.t())
    found = align_modules(ModelIndex.from_model(custom), ModelIndex.from_model(linear))
    assert found.modules[""].transposed
    assert x_at_w.modules[""].params["weight"].shape == (6, 8)


def test_clean_port_has_no_divergence_and_a_full_table():
    inputs = {"x": torch.randn(1, 4, 8, 8), "t": torch.tensor([321.5]), "context": torch.randn(1, 5, 32)}
    ref_out, cand_out, run = localize_models(
        lambda: build_reference(CONFIG),
        lambda: build_candidate(build_reference(CONFIG).state_dict(), CONFIG),
        lambda m: m(**inputs),
        call_candidate=lambda m: m(inputs["x"], inputs["t"], inputs["context"]),
    )
    assert all(d.passed for d in compare_outputs(ref_out, cand_out))
    assert run.first is None and not run.errors
    methods = {r.diff.module: r.diff.reference for r in run.rows}
    assert methods["transformer_blocks.0.norm2"] == "layers.0.norm2"  # parameter-free, paired by structure
    assert len(run.rows) >= 15


@pytest.mark.parametrize(
    "name", ["research/qkv_split_order", "research/norm_eps", "flux/transposed_weight", "flux/timestep_cast"]
)
def test_planted_bug_is_localised(name):
    case = next(c for c in all_cases() if c.name == name)
    inputs = case.inputs()
    _, _, run = localize_models(
        case.reference,
        case.candidate,
        lambda m: case.call_reference(m, inputs),
        call_candidate=lambda m: case.call_candidate(m, inputs),
    )
    loc = diagnose(run)
    assert loc.first_divergence is not None
    culprit = loc.first_divergence.culprit.replace("(top level)", "")
    assert culprit in case.expected, loc.first_divergence
    assert loc.first_divergence.likely_causes


def test_split_order_is_named_as_the_cause():
    case = next(c for c in all_cases() if c.name == "research/qkv_split_order")
    inputs = case.inputs()
    _, _, run = localize_models(
        case.reference,
        case.candidate,
        lambda m: case.call_reference(m, inputs),
        call_candidate=lambda m: case.call_candidate(m, inputs),
    )
    causes = " ".join(diagnose(run).first_divergence.likely_causes)
    assert "split order" in causes


class _Offset(torch.nn.Module):
    """A large constant offset, removed again before the next layer: relative to 1000 an error looks tiny."""

    def __init__(self, weight_noise: float = 0.0):
        super().__init__()
        torch.manual_seed(3)
        self.embed = torch.nn.Linear(16, 16)
        self.head = torch.nn.Linear(16, 16)
        with torch.no_grad():
            self.embed.bias.fill_(1000.0)
            self.embed.bias.add_(torch.arange(16.0))  # distinct values, so the weights align by value
            self.embed.weight.mul_(1.0 + weight_noise)

    def forward(self, x):
        return self.head(self.embed(x) - 1000.0)


def test_an_error_hidden_by_a_large_offset_is_traced_to_where_it_starts():
    x = torch.randn(2, 16, generator=torch.Generator().manual_seed(0))
    _, _, run = localize_models(lambda: _Offset(), lambda: _Offset(weight_noise=3e-2), lambda m: m(x))
    first = run.rows[run.first]
    # `embed` passes on its own (max rel ~4e-5 of ~1000) but carries the whole error that `head` then shows.
    assert first.diff.module == "embed" and run.first_where == "output"
    assert diagnose(run).first_divergence.culprit == "embed"


class _InPlace(torch.nn.Module):
    """The parent scales `first`'s output in place afterwards: the recorded value must not be that later one."""

    def __init__(self, scale: float):
        super().__init__()
        torch.manual_seed(5)
        self.first = torch.nn.Linear(8, 8)
        self.second = torch.nn.Linear(8, 8)
        self.scale = scale

    def forward(self, x):
        h = self.first(x)
        out = self.second(h)
        h.mul_(self.scale)
        return out + h


def test_reference_values_modified_in_place_later_are_compared_as_they_were():
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    _, _, run = localize_models(lambda: _InPlace(2.0), lambda: _InPlace(3.0), lambda m: m(x))
    rows = {r.diff.module: r for r in run.rows}
    # Recorded when `first` returned it (before the parent scaled it): equal to the candidate's at that point.
    assert rows["first"].diff.output is not None and rows["first"].output_passed
    assert rows["second"].diff.input is not None and rows["second"].input_passed
    assert rows["second"].diff.output is not None and rows["second"].output_passed
    assert run.first is None and not run.errors
