"""check_registration through a real MCP client, on a registration bug planted by hand in the real tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call


@pytest.mark.anyio
async def test_check_registration_finds_the_z_image_bug_planted_by_hand(workspace: Path) -> None:
    init = workspace / "src/diffusers/__init__.py"
    text = init.read_text()
    typing_entry = "        ZImageTransformer2DModel,\n"
    position = text.rindex(typing_entry)  # the TYPE_CHECKING half comes last
    init.write_text(text[:position] + text[position + len(typing_entry) :])
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        report = await call(client, "check_registration", {"names": ["ZImageTransformer2DModel"]})
    codes = {finding["code"] for finding in report["findings"]}
    assert not report["ok"] and "typing-missing" in codes
    finding = next(f for f in report["findings"] if f["code"] == "typing-missing")
    assert finding["path"] == "src/diffusers/__init__.py" and finding["auto_fixable"]
