"""summarize_checkpoint: folded key patterns from safetensors headers, torch files and sharded folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.parity.weights import summarize_checkpoint

from .checkpoints import _research_state_dict


def test_safetensors_keys_fold_over_block_indices(tmp_path: Path) -> None:
    save_file(_research_state_dict(), tmp_path / "model.safetensors", metadata={"format": "pt"})
    summary = summarize_checkpoint(tmp_path / "model.safetensors")
    assert summary.tensors == 9 and summary.metadata == {"format": "pt"}
    assert summary.dtypes == {"F32": 5, "BF16": 4}
    qkv = next(p for p in summary.patterns if p.pattern == "blocks.*.attn.qkv.weight")
    assert (qkv.shape, qkv.count, qkv.indices) == ([96, 32], 4, "0-3")
    assert summary.parameters == 32 * 4 * 2 * 2 + 4 * (96 * 32 + 192 * 32)


def test_a_sharded_index_and_a_torch_file_read_the_same(tmp_path: Path) -> None:
    state = _research_state_dict()
    keys = sorted(state)
    save_file({k: state[k] for k in keys[:4]}, tmp_path / "model-00001-of-00002.safetensors")
    save_file({k: state[k] for k in keys[4:]}, tmp_path / "model-00002-of-00002.safetensors")
    weight_map = {k: f"model-0000{1 if i < 4 else 2}-of-00002.safetensors" for i, k in enumerate(keys)}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    torch.save(state, tmp_path / "reference.pt")
    sharded = summarize_checkpoint(tmp_path / "model.safetensors.index.json")
    from_torch = summarize_checkpoint(tmp_path / "reference.pt")
    assert len(sharded.files) == 2 and sharded.tensors == from_torch.tensors == 9
    assert {p.pattern for p in sharded.patterns} == {p.pattern for p in from_torch.patterns}


def test_a_missing_path_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(IntegratorError, match="does not exist"):
        summarize_checkpoint(tmp_path / "nope.safetensors")
