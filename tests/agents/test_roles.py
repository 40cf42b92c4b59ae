"""The roles, defined once: their tools exist, their skills exist, and what is generated from them is current
(the Claude Code subagents, and the shipped scripted cassette's prompts and tool lists)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from diffusers_integrator.agents.cassette import Cassette, match_key, render_diff
from diffusers_integrator.agents.plugin import plugin_dir, subagent_name, sync_plugin
from diffusers_integrator.agents.roles import ROLES, SUB_AGENTS, role_for_tool
from diffusers_integrator.agents.runner import run_agents
from diffusers_integrator.agents.script import ScriptedAPI, Scripts, cassettes_dir
from diffusers_integrator.evals.cases import Turn
from diffusers_integrator.server import tool_specs

from .helpers import options


SHIPPED = cassettes_dir() / "tinydit.jsonl"


def test_every_role_holds_real_tools_and_opens_with_its_skill() -> None:
    tools = {spec.name for spec in tool_specs()}
    for role in ROLES.values():
        assert set(role.tools) <= tools, role.name
        prompt = role.system_prompt()
        assert prompt.startswith(role.opening)
    assert "# Integration checklist" in ROLES["review"].system_prompt(), "the review walks the skill's checklist"
    assert role_for_tool("run_parity").name == "parity" and role_for_tool("make_quality").name == "review"
    assert role_for_tool("scaffold").name == "lead"


def test_the_claude_code_subagents_are_generated_from_the_roles() -> None:
    assert sync_plugin(write=False) == [], "run `diffusers-integrator agent plugin --write`"
    for name in SUB_AGENTS:
        text = (plugin_dir() / "agents" / f"{subagent_name(ROLES[name])}.md").read_text()
        front = yaml.safe_load(text.split("---")[1])
        assert front["name"] == f"diffusers-{name}" and front["description"] == ROLES[name].description
        tools = front["tools"].split(", ")
        assert "mcp__diffusers-integrator__" + ROLES[name].tools[0] in tools
        assert "mcp__plugin_diffusers-integrator_diffusers-integrator__" + ROLES[name].tools[0] in tools


def test_the_shipped_cassette_says_it_is_scripted() -> None:
    cassette = Cassette.load(SHIPPED)
    assert cassette.header.scripted and cassette.header.case == "tinydit"
    assert "SCRIPTED, not recorded from a model" in cassette.header.note
    assert [
        e.agent for e in cassette.exchanges if "thread" not in e.request or e.request["thread"]["type"] == "create"
    ] == [
        "lead",
        "parity",
        "review",
    ]
    assert (SHIPPED.parent / cassette.header.answers).is_file()


@pytest.mark.anyio
async def test_the_shipped_cassette_matches_todays_prompts_and_tools(workspace: Path, tmp_path: Path) -> None:
    """What each agent's first request would send now (prompt, tools, model) is what the cassette holds."""
    lead = [Turn(tool="delegate", arguments={"agent": name, "task": "t"}) for name in SUB_AGENTS] + [Turn(say="ok")]
    scripts = Scripts(turns={"lead": lead, **{name: [Turn(say="ok")] for name in SUB_AGENTS}})
    run = options(workspace, tmp_path, [], transport=ScriptedAPI(scripts), record=tmp_path / "now.jsonl")
    assert (await run_agents(run)).ok
    now = {
        e.agent: e for e in Cassette.load(tmp_path / "now.jsonl").exchanges if e.request["thread"]["type"] == "create"
    }
    shipped = {e.agent: e for e in Cassette.load(SHIPPED).exchanges if e.request["thread"]["type"] == "create"}
    for agent, exchange in shipped.items():
        expected, actual = match_key(exchange), match_key(now[agent])
        for key in ("messages",):  # the tasks differ by design; the prompts, tools and settings may not
            expected["body"].pop(key), actual["body"].pop(key)
        assert expected == actual, (
            f"The {agent} agent's first request changed since the cassette was scripted; if intended, run "
            f"`diffusers-integrator agent script tinydit`.\n{render_diff(expected, actual)}"
        )
