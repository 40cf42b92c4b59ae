"""Every skill reaches a real MCP client through the server's own channels: the Skills extension (with digests
that match what `resources/read` returns) and one prompt per skill. The third channel, the `list_skills` /
`get_skill` tools, is tested in tools/."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp_types import Request
from pydantic import TypeAdapter

from diffusers_integrator.server import build_server
from diffusers_integrator.skills import load_skills

from .helpers import SHIPPED


class SkillsRequest(Request[dict[str, Any], str]):
    """A Skills-extension request (the SDK has no client helper for SEP-2640 yet)."""


async def _skills_request(client: Client, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return await client.session.send_request(SkillsRequest(method=method, params=params), TypeAdapter(dict[str, Any]))


@pytest.mark.anyio
async def test_the_skills_extension_lists_every_skill_with_verifiable_digests() -> None:
    async with Client(build_server(), mode="auto") as client:
        assert "io.modelcontextprotocol/skills" in client.server_capabilities.extensions
        listing = await _skills_request(client, "skills/list", {})
        assert listing["ttlMs"] > 0 and listing["cacheScope"] == "public"
        entries = {entry["frontmatter"]["name"]: entry for entry in listing["skills"]}
        assert set(entries) == SHIPPED
        for name, entry in entries.items():
            assert entry["uri"] == f"skill://{name}/SKILL.md"
            assert entry["frontmatter"]["description"].strip()
            assert entry["uri"] in {resource["uri"] for resource in entry["resources"]}
            for resource in entry["resources"]:
                content = (await client.read_resource(resource["uri"])).contents[0]
                raw = content.text.encode("utf-8")
                assert resource["digest"] == "sha256:" + hashlib.sha256(raw).hexdigest(), resource["uri"]
                assert resource["size"] == len(raw)
            fetched = await _skills_request(client, "skills/get", {"uri": entry["uri"]})
            assert fetched["skill"] == entry


@pytest.mark.anyio
async def test_skills_get_refuses_an_unknown_skill_with_invalid_params() -> None:
    async with Client(build_server(), mode="auto") as client:
        with pytest.raises(MCPError) as refused:
            await _skills_request(client, "skills/get", {"uri": "skill://no-such-skill/SKILL.md"})
    assert refused.value.error.code == -32602


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_one_prompt_per_skill_and_a_resource_per_file(mode: str) -> None:
    async with Client(build_server(), mode=mode) as client:
        prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
        assert prompts == SHIPPED
        prompt = await client.get_prompt("parity-testing")
        assert "skill://parity-testing/" in prompt.messages[0].content.text
        uris = {str(resource.uri) for resource in (await client.list_resources()).resources}
        for skill in load_skills():
            assert {file.uri for file in skill.files} <= uris
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        assert "skill://{name}/{+path}" in templates
