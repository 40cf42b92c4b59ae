"""The Claude Code / Codex plugin (`plugin/`): the skills, the MCP server and the subagents, generated.

The plugin is one folder a client installs by copying it: `skills/` (a copy of the project's `skills/`),
`.mcp.json` (our server, `diffusers-integrator serve`), the manifests (`.claude-plugin/`, `.codex-plugin/`) and
`agents/`, the parity and review roles as Claude Code subagents, generated from `roles.py`.

Claude Code users get the same delegation without our runner: the lead is Claude Code itself, and these
subagents hold the role's instructions and tool list, with our server's tools under both names Claude Code may give them
(`mcp__diffusers-integrator__<tool>` for the server the README's `claude mcp add` adds, and the plugin-scoped
`mcp__plugin_diffusers-integrator_diffusers-integrator__<tool>` for one a plugin brings) and Claude Code's own
editor and shell in place of the runner's. `diffusers-integrator agent plugin --write` rewrites every generated
file; `--check` fails when a skill, a role or the version changed and the plugin was not rewritten.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .. import __version__
from ..data import data_dir
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


def plugin_files() -> dict[str, bytes]:
    """Every generated file of the plugin, by path relative to its folder.

    The skills are copied from `skills/` (the plugin is installed by copying its folder, so a link out of it
    would dangle), the subagents come from the roles, and the manifests carry this package's version.
    """
    files = {
        ".claude-plugin/plugin.json": _json(_manifest()),
        ".codex-plugin/plugin.json": _json({**_manifest(), "skills": "./skills/", "mcpServers": "./.mcp.json"}),
        ".mcp.json": _json(mcp_config()),
    }
    skills = data_dir("skills")
    for path in sorted(p for p in skills.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        files[f"skills/{path.relative_to(skills).as_posix()}"] = path.read_bytes()
    for name in SUB_AGENTS:
        role = ROLES[name]
        files[f"agents/{subagent_name(role)}.md"] = subagent_markdown(role).encode()
    return files


def mcp_config() -> dict[str, object]:
    """The server the plugin starts: `serve` on the folder the client runs in (the diffusers clone)."""
    return {"mcpServers": {SERVER_NAME: {"command": "diffusers-integrator", "args": ["serve"]}}}


def sync_plugin(folder: Path | None = None, *, write: bool) -> list[str]:
    """The plugin's generated files that differ from their sources (rewritten when `write`).

    A file under `skills/` or `agents/` that no source makes is stale too (removed when `write`), so a skill
    deleted from `skills/` leaves the plugin with it. `README.md` and `evals/` are not this function's.
    """
    root = folder or plugin_dir()
    wanted = plugin_files()
    stale = []
    for rel, content in wanted.items():
        path = root / rel
        if not path.is_file() or path.read_bytes() != content:
            stale.append(str(path))
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    for generated in ("skills", "agents"):
        for path in sorted((root / generated).rglob("*"), reverse=True):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and rel not in wanted:
                stale.append(str(path))
                if write:
                    path.unlink()
            elif write and path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return stale


def _manifest() -> dict[str, object]:
    return {
        "name": PLUGIN_NAME,
        "version": __version__,
        "description": "Integrate new models into Hugging Face diffusers: the integrating-models, parity-testing "
        "and modular-conversion skills, the diffusers-integrator MCP server, and parity and review subagents.",
        "author": {"name": "diffusers-integrator"},
        "license": "Apache-2.0",
        "keywords": ["diffusers", "mcp", "parity", "skills"],
    }


def _json(data: dict[str, object]) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()
