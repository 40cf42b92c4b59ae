"""The `tools/list` wire JSON is a reviewed contract: evals, skills and users depend on every name and schema.

Regenerate deliberately with `UPDATE_SNAPSHOTS=1 pytest tests/server/test_tools_snapshot.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ..mcp_helpers import wire


SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.anyio
@pytest.mark.parametrize("read_only", [False, True], ids=["full", "read-only"])
async def test_tools_list_matches_snapshot(read_only: bool) -> None:
    async with Client(build_server(ServerOptions(read_only=read_only)), mode="legacy") as client:
        tools = wire(await client.list_tools())["tools"]
    snapshot = SNAPSHOTS / f"tools_list{'_read_only' if read_only else ''}.json"
    rendered = json.dumps(tools, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.write_text(rendered)
    assert snapshot.exists(), f"{snapshot} is missing: run with UPDATE_SNAPSHOTS=1 and review it"
    assert rendered == snapshot.read_text(), (
        f"tools/list changed; if deliberate, run UPDATE_SNAPSHOTS=1 pytest {__file__} and review the diff"
    )


@pytest.mark.anyio
async def test_every_tool_is_annotated() -> None:
    async with Client(build_server(), mode="legacy") as client:
        for tool in (await client.list_tools()).tools:
            hints = tool.annotations
            assert hints is not None, tool.name
            assert hints.read_only_hint is not None and hints.destructive_hint is not None, tool.name
            assert hints.idempotent_hint is not None, tool.name
