"""convert_weights: the worked example's conversion written as JSON rules, through a real MCP client.

The reference is the research-style DiT of `testing/research_dit.py` with seeded weights; the target is what
`save_pretrained` writes for its diffusers port. A complete conversion must load into the port with
`from_pretrained` and reproduce the reference's output; a broken rule set must say what is wrong.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from mcp import Client
from safetensors.torch import load_file, save_file

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.cli import main
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.parity.convert_weights import convert_weights, key_map_from_rules, load_rules
from diffusers_integrator.parity.convert_weights_schema import ConvertWeightsRequest
from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions
from diffusers_integrator.testing.diffusers_dit import TinyDiTTransformer2DModel
from diffusers_integrator.testing.dit_conversion import convert_config, convert_state_dict
from diffusers_integrator.testing.research_dit import ResearchDiTConfig, build_reference, example_inputs

from ..mcp_helpers import call, call_error


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


def test_the_json_rules_convert_exactly_like_the_example_key_map(reference_state: dict[str, torch.Tensor]) -> None:
    rules = ConvertWeightsRequest(source="-", rules=RULES).rules
    ours = key_map_from_rules(rules).apply(reference_state).state_dict
    theirs = convert_state_dict(reference_state, CONFIG).state_dict
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)


@pytest.mark.anyio
async def test_a_complete_conversion_loads_into_the_port_and_reproduces_the_reference(
    workspace: Path, source: str, target_dir: Path
) -> None:
    arguments = {"source": source, "rules": RULES, "target": str(target_dir), "name": "research/transformer"}
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        result = (await call(client, "convert_weights", arguments))["result"]

    coverage = result["coverage"]
    assert result["complete"] and result["written"] and result["loadable"]
    assert (coverage["source_keys"], coverage["converted"], coverage["target_keys"]) == (36, 44, 44)
    assert coverage["unused_source_keys"]["count"] == coverage["missing_target_keys"]["count"] == 0
    assert result["output_dir"] == ".diffusers-integrator/weights/research/transformer"
    assert result["files"] == ["diffusion_pytorch_model.safetensors"]
    assert result["weight_map"]["layers.1.attn.qkv"] == [f"transformer_blocks.1.attn.to_{x}" for x in "qkv"]
    assert result["weight_map"]["final_layer.adaLN_modulation.1"] == "norm_out.linear"
    assert "TinyDiTTransformer2DModel.from_pretrained" in result["next_step"] and "parity" in result["next_step"]

    out = workspace / result["output_dir"]
    assert _port_output_diff(out) < 1e-5
    record = json.loads((out / "conversion.json").read_text())
    assert record["complete"] and len(record["rules"]) == len(RULES)
    # Converted weights never look like a change to ship: only the reference we put there is untracked.
    status = subprocess.run(["git", "status", "--porcelain"], cwd=workspace, capture_output=True, text=True)
    assert status.stdout.splitlines() == ["?? ckpts/"]


@pytest.mark.anyio
async def test_a_missing_rule_is_structured_incomplete_coverage_and_writes_nothing(
    workspace: Path, source: str, target_dir: Path
) -> None:
    arguments = {"source": source, "rules": _rules_without(len(RULES) - 1), "target": str(target_dir)}
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        result = (await call(client, "convert_weights", arguments))["result"]

    coverage = result["coverage"]
    assert not result["complete"] and not result["written"] and result["output_dir"] is None
    assert [p["pattern"] for p in coverage["unused_source_keys"]["patterns"]] == [
        "final_layer.linear.bias",
        "final_layer.linear.weight",
    ]
    assert {p["pattern"] for p in coverage["missing_target_keys"]["patterns"]} == {"proj_out.bias", "proj_out.weight"}
    assert result["next_step"].startswith("Coverage incomplete: 2 source keys unused")
    assert "Nothing was written" in result["next_step"]
    assert not (workspace / ".diffusers-integrator" / "weights").exists()


@pytest.mark.anyio
async def test_broken_rules_fail_naming_the_rule(workspace: Path, source: str, target_dir: Path) -> None:
    wrong_sizes = [dict(rule, sizes=[64, 64, 32]) if i == SPLIT else rule for i, rule in enumerate(RULES)]
    uneven = [dict(rule, sizes=[32, 96, 64]) if i == SPLIT else rule for i, rule in enumerate(RULES)]
    bad_op = [*RULES, {"op": "rotate", "source": "x", "target": "y"}]
    stray = [*RULES, {"op": "rename", "source": "ema.{i}", "target": "x.{j}"}]
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        sizes_error = await call_error(client, "convert_weights", {"source": source, "rules": wrong_sizes})
        mismatched = await call(
            client, "convert_weights", {"source": source, "rules": uneven, "target": str(target_dir)}
        )
        op_error = await call_error(client, "convert_weights", {"source": source, "rules": bad_op})
        stray_error = await call_error(client, "convert_weights", {"source": source, "rules": stray})

    assert f"Rule {SPLIT} (split) cannot convert 'layers." in sizes_error
    assert "do not add up to" in sizes_error and "sizes` must add up" in sizes_error
    # Sizes that add up but split in the wrong places load nowhere: shape mismatches, not a crash.
    coverage = mismatched["result"]["coverage"]
    assert coverage["shape_mismatch_count"] == 8  # q (32 rows) and k (96) x weight, bias x 2 blocks; v fits
    first = coverage["shape_mismatches"][0]
    assert first["expected"][0] == 64 and first["actual"][0] in (32, 96)
    assert f"rules.{len(RULES)}" in op_error and "'rotate'" in op_error
    assert "uses {j}, which source 'ema.{i}' does not capture" in stray_error


@pytest.mark.anyio
async def test_dry_run_reports_coverage_and_writes_nothing(workspace: Path, source: str, target_dir: Path) -> None:
    stale = [*RULES, {"op": "drop", "source": "ema.{rest*}"}]
    arguments = {"source": source, "rules": stale, "target": str(target_dir), "dry_run": True}
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="auto") as client:
        result = (await call(client, "convert_weights", arguments))["result"]

    assert result["complete"] and not result["written"] and result["files"] == []
    assert result["coverage"]["unmatched_rules"] == [{"index": len(RULES), "op": "drop", "source": "ema.{rest*}"}]
    assert result["next_step"].startswith("Coverage complete: call again without dry_run")
    assert not (workspace / ".diffusers-integrator" / "weights").exists()


@pytest.mark.anyio
async def test_a_conversion_past_wait_s_is_a_job_whose_result_job_status_returns(
    workspace: Path, source: str, target_dir: Path
) -> None:
    arguments = {"source": source, "rules": RULES, "target": str(target_dir), "name": "job", "wait_s": 0}
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        started = await call(client, "convert_weights", arguments)
        status = await call(client, "job_status", {"job_id": started["job"]["job_id"], "wait_s": 30})

    assert status["job"]["state"] == "succeeded" and status["job"]["name"] == "convert_weights"
    assert status["result"]["complete"] and status["result"]["files"] == ["diffusion_pytorch_model.safetensors"]
    assert (workspace / status["result"]["output_dir"] / "diffusion_pytorch_model.safetensors").is_file()


def test_output_never_lands_outside_the_state_dir(checkout: Checkout, source: str) -> None:
    with pytest.raises(ValueError, match="name"):
        ConvertWeightsRequest(source=source, rules=RULES, name="../../src/diffusers")
    weights = checkout.state_dir / "weights"
    weights.mkdir()
    os.symlink(checkout.package_dir, weights / "evil")
    with pytest.raises(IntegratorError, match="outside .diffusers-integrator/weights"):
        convert_weights(checkout, ConvertWeightsRequest(source=source, rules=RULES, name="evil"))
    assert not list(checkout.package_dir.glob("diffusion_pytorch_model*"))


def test_a_torch_file_converts_to_bf16_shards_and_a_rerun_replaces_them(
    checkout: Checkout, reference_state: dict[str, torch.Tensor], target_dir: Path, tmp_path: Path
) -> None:
    torch.save(reference_state, tmp_path / "research.pt")
    request = ConvertWeightsRequest(
        source=str(tmp_path / "research.pt"), rules=RULES, target=str(target_dir), name="bf16", dtype="bfloat16"
    )
    sharded = convert_weights(checkout, request, max_shard_bytes=40_000)
    out = checkout.root / sharded.output_dir
    index = json.loads((out / "diffusion_pytorch_model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert sharded.complete and len(shards) > 2 and sharded.files == sorted([*shards, index_name(out)])
    tensors = {k: v for shard in shards for k, v in load_file(out / shard).items()}
    assert set(tensors) == set(index["weight_map"]) and {t.dtype for t in tensors.values()} == {torch.bfloat16}
    model = TinyDiTTransformer2DModel.from_pretrained(out)  # the sharded folder loads as diffusers saves it
    assert torch.equal(
        model.proj_out.weight.to(torch.bfloat16), reference_state["final_layer.linear.weight"].bfloat16()
    )

    single = convert_weights(checkout, request)
    assert single.files == ["diffusion_pytorch_model.safetensors"]
    assert sorted(p.name for p in out.glob("diffusion_pytorch_model*")) == single.files


def index_name(out: Path) -> str:
    return next(out.glob("*.index.json")).name


def test_a_target_key_without_source_writes_only_when_allowed(
    checkout: Checkout, source: str, reference_state: dict[str, torch.Tensor]
) -> None:
    shapes = {
        key: list(tensor.shape) for key, tensor in convert_state_dict(reference_state, CONFIG).state_dict.items()
    }
    shapes["pos_embed.freqs"] = [8]  # a persistent buffer the model computes: nothing in the reference fills it
    (checkout.root / "ckpts" / "shapes.json").write_text(json.dumps(shapes))
    request = ConvertWeightsRequest(source=source, rules=RULES, target="ckpts/shapes.json", name="buffer")
    refused = convert_weights(checkout, request)
    assert not refused.written and refused.coverage.missing_target_keys.count == 1
    allowed = convert_weights(checkout, request.model_copy(update={"allow_incomplete": True}))
    assert allowed.written and not allowed.complete and not allowed.loadable
    assert "Written anyway" in allowed.next_step


def test_cli_converts_with_a_rules_file_and_exits_1_when_incomplete(
    workspace: Path, source: str, target_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = workspace / "ckpts" / "rules.json"
    rules.write_text(json.dumps(RULES))
    base = ["convert", str(workspace / source), "--target", str(target_dir), "--checkout", str(workspace)]
    assert main([*base, "--rules", str(rules), "--out", "cli", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["complete"] and result["output_dir"] == ".diffusers-integrator/weights/cli"
    # A previous conversion.json is a rules file too.
    assert len(load_rules(workspace / result["report"])) == len(RULES)

    rules.write_text(json.dumps(_rules_without(0)))
    assert main([*base, "--rules", str(rules), "--dry-run"]) == 1
    text = capsys.readouterr().out
    assert "incomplete" in text and "patch_proj.weight" in text
