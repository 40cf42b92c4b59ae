"""The parity and review roles as Claude Code subagents (`agents/<name>.md` of a plugin), generated from `roles.py`.

Claude Code users get the same delegation without our runner: the lead is Claude Code itself, and these
subagents hold the role's instructions and tool list, with our server's tools under both names Claude Code may give them
(`mcp__diffusers-integrator__<tool>` for the server the README's `claude mcp add` adds, and the plugin-scoped
`mcp__plugin_diffusers-integrator_diffusers-integrator__<tool>` for one a plugin brings) and Claude Code's own
editor and shell in place of the runner's. `diffusers-integrator agent plugin --write` rewrites them;
`--check` fails when a role changed and they were not rewritten.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .. import __version__
from .roles import EDITOR, ROLES, SUB_AGENTS, TESTS, VIEWER, Role


SERVER_NAME = "diffusers-integrator"
PLUGIN_NAME = "diffusers-integrator"
MCP_PREFIXES = (f"mcp__{SERVER_NAME}__", f"mcp__plugin_{PLUGIN_NAME}_{SERVER_NAME}__")
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
    # The server under both names Claude Code may give it: added by the user (`claude mcp add`), or by a plugin.
    tools = [f"{prefix}{name}" for prefix in MCP_PREFIXES for name in role.tools]
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
    """The subagent files that differ from the roles (rewritten when `write`).

    A plugin manifest is written when there is none (so `claude plugin validate` takes the folder); one that
    exists belongs to whoever maintains the plugin and is left alone.
    """
    root = folder or plugin_dir()
    agents = root / "agents"
    manifest = root / ".claude-plugin" / "plugin.json"
    if write and not manifest.is_file():
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps(_manifest(), indent=2) + "\n", encoding="utf-8")
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


def _manifest() -> dict[str, object]:
    return {
        "name": PLUGIN_NAME,
        "version": __version__,
        "description": "Integrate new models into Hugging Face diffusers: parity and review subagents for the "
        "diffusers-integrator MCP server.",
        "author": {"name": "diffusers-integrator"},
        "license": "Apache-2.0",
        "keywords": ["diffusers", "mcp", "parity"],
    }
