"""The skills' MCP channels: the Skills extension, `skill://` resources and one prompt per skill.

Clients differ (Claude Desktop has prompts but no elicitation, Cursor has no resources), so skills go out
every way a client can take them; the `list_skills` / `get_skill` tools in `server/tools/` are the channel every
client has. This module is part of the server edge: it maps protocol shapes onto `diffusers_integrator.skills`,
which it imports only when a skill is first asked for (PyYAML and reading every skill file are start-up time the
server's `tools/list` does not need; `app.py` registers the channels on first use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp_types import RequestParams

from ..errors import IntegratorError


SKILLS_EXTENSION = "io.modelcontextprotocol/skills"
_INVALID_PARAMS = -32602
_LIST_TTL_MS = 300_000
_MODERN = "2026-07-28"


class GetSkillParams(RequestParams):
    uri: str


def _cache_fields(ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
    """`ttlMs` / `cacheScope` exist only from protocol 2026-07-28 on; older sessions must not see them."""
    if getattr(ctx, "protocol_version", "") >= _MODERN:
        return {"ttlMs": _LIST_TTL_MS, "cacheScope": "public"}
    return {}


async def _list_skills(ctx: ServerRequestContext[Any, Any], params: RequestParams | None) -> dict[str, Any]:
    from ..skills import load_skills

    return {"skills": [skill.entry() for skill in load_skills()], **_cache_fields(ctx)}


async def _get_skill(ctx: ServerRequestContext[Any, Any], params: GetSkillParams) -> dict[str, Any]:
    prefix, _, rest = params.uri.partition("://")
    name, _, path = rest.partition("/")
    if prefix != "skill" or path != "SKILL.md":
        raise MCPError(_INVALID_PARAMS, f"{params.uri} is not a skill URI; expected skill://<name>/SKILL.md")
    from ..skills import get_skill

    try:
        skill = get_skill(name)
    except IntegratorError as error:
        raise MCPError(_INVALID_PARAMS, str(error)) from None
    return {"skill": skill.entry(), **_cache_fields(ctx)}


class SkillsExtension(Extension):
    """SEP-2640: `skills/list` and `skills/get` over the `skill://` resources."""

    identifier = SKILLS_EXTENSION

    def methods(self) -> Sequence[MethodBinding]:
        return (
            MethodBinding("skills/list", RequestParams, _list_skills),
            MethodBinding("skills/get", GetSkillParams, _get_skill),
        )


def add_skill_channels(server: MCPServer) -> None:
    """Registers the skill resources (one per file, plus a template) and one prompt per skill."""
    from mcp.server.mcpserver.resources import FunctionResource

    from ..skills import load_skills, read_skill_uri

    for skill in load_skills():
        for file in skill.files:
            server.add_resource(
                FunctionResource(
                    uri=file.uri,
                    name=f"{skill.name}/{file.path}",
                    description=skill.description if file.path == "SKILL.md" else None,
                    mime_type=file.mime,
                    fn=_file_reader(skill.name, file.path),
                    meta={"io.modelcontextprotocol.skills/digest": file.digest},
                )
            )
        server.prompt(name=skill.name, title=f"Skill: {skill.name}", description=skill.description)(
            _prompt_for(skill.name)
        )

    @server.resource("skill://{name}/{+path}", name="skill-file", mime_type="text/markdown")
    def read_any_skill_file(name: str, path: str) -> str:
        """Any file of a shipped skill, by `skill://<skill>/<path>`."""
        try:
            return read_skill_uri(f"skill://{name}/{path}").text
        except IntegratorError as error:
            raise ResourceNotFoundError(str(error)) from None


def _file_reader(name: str, path: str):
    def read() -> str:
        from ..skills import read_skill_file

        try:
            return read_skill_file(name, path).text
        except IntegratorError as error:  # the file vanished since start-up
            raise ResourceError(str(error)) from None

    return read


def _prompt_for(name: str):
    def prompt() -> str:
        from ..skills import skill_prompt

        return skill_prompt(name)

    prompt.__name__ = name.replace("-", "_")
    return prompt
