"""get_skill through a real MCP client: every file of every skill, verifiable, and nothing outside a skill."""

from __future__ import annotations

import hashlib

import pytest
from mcp import Client

from diffusers_integrator.server import build_server

from ...mcp_helpers import call
from ..helpers import SHIPPED


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_tools_channel_reads_every_file_of_every_skill(mode: str) -> None:
    async with Client(build_server(), mode=mode) as client:
        listing = await call(client, "list_skills")
        assert {skill["name"] for skill in listing["skills"]} == SHIPPED
        for skill in listing["skills"]:
            for path in skill["files"]:
                content = await call(client, "get_skill", {"name": skill["name"], "path": path})
                assert content["text"] and content["sha256"] == hashlib.sha256(content["text"].encode()).hexdigest()
        refused = await client.call_tool("get_skill", {"name": "parity-testing", "path": "../../pyproject.toml"})
        assert refused.is_error
