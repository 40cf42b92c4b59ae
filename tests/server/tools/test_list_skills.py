"""list_skills through a real MCP client: every shipped skill with its description, SKILL.md URI and files."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions
from diffusers_integrator.skills import load_skills

from ...mcp_helpers import call
from ..helpers import SHIPPED


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_list_skills_names_every_skill_and_its_files_even_without_a_tree(tmp_path: Path, mode: str) -> None:
    # The skills ship with the package: a server whose checkout is not a diffusers tree still lists them.
    async with Client(build_server(ServerOptions(checkout=tmp_path)), mode=mode) as client:
        listing = await call(client, "list_skills")
    listed = {skill["name"]: skill for skill in listing["skills"]}
    assert set(listed) == SHIPPED
    for skill in load_skills():
        entry = listed[skill.name]
        assert entry["uri"] == f"skill://{skill.name}/SKILL.md"
        assert entry["description"] == skill.description and entry["description"].strip()
        assert entry["files"] == [file.path for file in skill.files] and entry["files"][0] == "SKILL.md"
    assert "get_skill" in listing["hint"] and "integrating-models/SKILL.md" in listing["hint"]
