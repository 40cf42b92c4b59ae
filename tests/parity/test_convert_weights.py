"""convert_weights in the core and the CLI: the JSON rules convert exactly like the worked example's key map,
output stays in the state dir, torch files convert to bf16 shards, and missing targets write only when allowed.

The rules and the reference and target fixtures are in `checkpoints.py`; the MCP tool's tests are in
`tests/server/tools/test_convert_weights.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.cli import main
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.parity.convert_weights import convert_weights, key_map_from_rules, load_rules
from diffusers_integrator.parity.convert_weights_schema import ConvertWeightsRequest
from diffusers_integrator.testing.diffusers_dit import TinyDiTTransformer2DModel
from diffusers_integrator.testing.dit_conversion import convert_state_dict

from .checkpoints import CONFIG, RULES, _rules_without


def test_the_json_rules_convert_exactly_like_the_example_key_map(reference_state: dict[str, torch.Tensor]) -> None:
    rules = ConvertWeightsRequest(source="-", rules=RULES).rules
    ours = key_map_from_rules(rules).apply(reference_state).state_dict
    theirs = convert_state_dict(reference_state, CONFIG).state_dict
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)


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
