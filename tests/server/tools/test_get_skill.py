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


@pytest.mark.anyio
async def test_a_nul_byte_in_the_path_is_refused_naming_the_field() -> None:
    """Issue 15 #8: a NUL byte in `path` ended in a bare "Error executing tool get_skill"."""
    async with Client(build_server(), mode="legacy") as client:
        nul = await client.call_tool("get_skill", {"name": "parity-testing", "path": "SKILL\x00.md"})
        long = await client.call_tool("get_skill", {"name": "x" * 10_000})
    assert nul.is_error and "`path`" in nul.content[0].text and "control character" in nul.content[0].text
    assert long.is_error and "There is no skill named" in long.content[0].text and "Use one of" in long.content[0].text
    assert len(long.content[0].text) < 1000
