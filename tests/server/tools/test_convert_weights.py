"""convert_weights through a real MCP client: the worked example's conversion written as JSON rules.

A complete conversion must load into the port with `from_pretrained` and reproduce the reference's output; a
broken rule set must say what is wrong; a dry run and a run past wait_s behave as the tool promises. The rules and
the reference and target fixtures are in `tests/parity/checkpoints.py`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ...parity.checkpoints import RULES, SPLIT, _port_output_diff, _rules_without


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


@pytest.mark.anyio
async def test_a_missing_shard_names_itself_and_the_fix(workspace: Path, target_dir: Path) -> None:
    """Issue 15 #8: a sharded source whose index names a missing shard ended in a bare error."""
    folder = workspace / "ckpts"
    folder.mkdir()
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"layers.0.attn.qkv.weight": "model-00002-of-00002.safetensors"}})
    )
    arguments = {"source": "ckpts/model.safetensors.index.json", "rules": RULES, "target": str(target_dir)}
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        message = await call_error(client, "convert_weights", arguments)
    assert "`source`" in message and "model-00002-of-00002.safetensors" in message
    assert "Download every shard" in message


@pytest.mark.anyio
async def test_conversion_json_carries_no_secret(
    workspace: Path, source: str, target_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 #6: conversion.json carried $ANTHROPIC_API_KEY (a value the request held)."""
    secret = "sk-ant-api03-CONVERTfakeCONVERTfake012345"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    rules = [*RULES, {"op": "drop", "source": f"no.such.{secret}"}]
    arguments = {"source": source, "rules": rules, "target": str(target_dir), "name": "secretless"}
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        answer = await call(client, "convert_weights", arguments)
    written = workspace / ".diffusers-integrator" / "weights" / "secretless" / "conversion.json"
    assert written.is_file() and secret not in written.read_text()
    assert "[redacted:$ANTHROPIC_API_KEY]" in written.read_text()
    assert secret not in json.dumps(answer)
