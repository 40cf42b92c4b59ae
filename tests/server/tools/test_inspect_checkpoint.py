"""inspect_checkpoint through a real MCP client: paths relative to the checkout, and a missing one refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from safetensors.torch import save_file

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ...parity.checkpoints import _research_state_dict


@pytest.mark.anyio
async def test_inspect_checkpoint_over_mcp_resolves_relative_paths_in_the_checkout(workspace: Path) -> None:
    weights = workspace / ".diffusers-integrator" / "weights"
    weights.mkdir(parents=True)
    save_file(_research_state_dict(), weights / "model.safetensors")
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        summary = await call(client, "inspect_checkpoint", {"path": ".diffusers-integrator/weights/model.safetensors"})
        assert summary["tensors"] == 9
        assert "does not exist" in await call_error(client, "inspect_checkpoint", {"path": "missing.safetensors"})


@pytest.mark.anyio
async def test_a_symlink_out_of_the_tree_is_refused_but_an_absolute_path_is_read(
    workspace: Path, tmp_path: Path
) -> None:
    """Issue 15 #10: `etc_link/passwd` (a folder symlinked out of the tree) was opened. Relative paths stay in the
    tree, shards included; an absolute path outside it is allowed by design (the user's downloads)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    save_file(_research_state_dict(), outside / "model.safetensors")
    (workspace / "etc_link").symlink_to(outside)
    shards = workspace / "shards"
    shards.mkdir()
    (shards / "model-00001-of-00001.safetensors").symlink_to(outside / "model.safetensors")
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        through_link = await call_error(client, "inspect_checkpoint", {"path": "etc_link/passwd"})
        shard_link = await call_error(client, "inspect_checkpoint", {"path": "shards"})
        absolute = await call(client, "inspect_checkpoint", {"path": str(outside / "model.safetensors")})
    assert "outside the checkout" in through_link and "root:x" not in through_link
    assert "outside the checkout" in shard_link
    assert absolute["tensors"] == 9


@pytest.mark.anyio
async def test_unreadable_checkpoints_name_the_field_and_the_fix(workspace: Path) -> None:
    """Issue 15 #8: a non-safetensors file, a missing shard and a 5,000-character name ended in a bare
    "Error executing tool inspect_checkpoint"."""
    (workspace / "notes.txt").write_text("not weights\n")
    (workspace / "garbage.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    (workspace / "garbage.bin").write_bytes(b"not a pickle")
    (workspace / "model.safetensors.index.json").write_text(
        '{"weight_map": {"a.weight": "model-00001-of-00002.safetensors"}}'
    )
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        errors = {
            path: await call_error(client, "inspect_checkpoint", {"path": path})
            for path in (
                "notes.txt",
                "garbage.safetensors",
                "garbage.bin",
                "model.safetensors.index.json",
                "x" * 300,  # longer than a file name may be
                "x" * 5000,  # longer than the field allows
            )
        }
    assert "is not a weights file" in errors["notes.txt"] and "Pass a .safetensors" in errors["notes.txt"]
    assert "is not a safetensors file" in errors["garbage.safetensors"]
    assert "weights-only torch state dict" in errors["garbage.bin"]
    assert "model-00001-of-00002.safetensors" in errors["model.safetensors.index.json"]
    assert "Download every shard" in errors["model.safetensors.index.json"]
    assert "`path`" in errors["x" * 300] and "File name too long" in errors["x" * 300]
    assert "`path`: String should have at most 4096 characters" in errors["x" * 5000]
    for message in errors.values():
        assert "Error executing tool inspect_checkpoint:" in message and 60 < len(message) < 1500
