"""The parity and review roles as Claude Code subagents (`agents/<name>.md` of a plugin), generated from `roles.py`.

Claude Code users get the same delegation without our runner: the lead is Claude Code itself, and these
subagents hold the role's instructions and tool list, with our server's tools under Claude Code's MCP names
(`mcp__diffusers-integrator__<tool>`, the server name the README's `claude mcp add` uses) and Claude Code's
own editor and shell in place of the runner's. `diffusers-integrator agent plugin --write` rewrites them;
`--check` fails when a role changed and they were not rewritten.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .roles import EDITOR, ROLES, SUB_AGENTS, TESTS, VIEWER, Role


SERVER_NAME = "diffusers-integrator"
PREFIX = "diffusers-"
# The runner's local tools, as Claude Code's built-in tools.
CLAUDE_CODE_TOOLS = {
    EDITOR: ["Read", "Edit", "Write", "Glob", "Grep"],
    VIEWER: ["Read", "Glob", "Grep"],
    TESTS: ["Bash"],
}


def plugin_dir() -> Path:
    """`plugin/` of a source checkout of this project."""
    from ..data import data_dir

    return data_dir("tools").parent / "plugin"


def subagent_name(role: Role) -> str:
    return PREFIX + role.name


def subagent_markdown(role: Role) -> str:
    """The subagent file: frontmatter (name, description, tools) and the role's prompt."""
    tools = [f"mcp__{SERVER_NAME}__{name}" for name in role.tools]
    for local in role.local:
        tools += [tool for tool in CLAUDE_CODE_TOOLS.get(local, []) if tool not in tools]
    front = {"name": subagent_name(role), "description": role.description, "tools": ", ".join(tools)}
    skill = f"the `{role.skill}` skill" + (f" (its `{role.skill_file}`)" if role.skill_file else "")
    body = "\n\n".join(
        [
            role.opening,
            role.instructions.strip(),
            f"Your know-how is {skill}: read it first (the Skill tool, or `get_skill` of the {SERVER_NAME} server).",
        ]
    )
    generated = (
        "# Generated from diffusers_integrator/agents/roles.py by `diffusers-integrator agent plugin --write`.\n"
    )
    return f"---\n{generated}{yaml.safe_dump(front, sort_keys=False, width=1000)}---\n\n{body}\n"


def sync_plugin_agents(folder: Path | None = None, *, write: bool) -> list[str]:
    """The subagent files that differ from the roles (rewritten when `write`)."""
    agents = (folder or plugin_dir()) / "agents"
    stale = []
    for name in SUB_AGENTS:
        role = ROLES[name]
        path = agents / f"{subagent_name(role)}.md"
        text = subagent_markdown(role)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(str(path))
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    return stale
