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
