"""The plugin as Claude Code sees it: its real CLI validates and installs it offline, the server its `.mcp.json`
names answers over stdio, and `claude plugin eval` loads the exported suite and lays a case's tree, stopping at
its first model call (there is no credential here, so nothing is paid for)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client, StdioServerParameters

from diffusers_integrator.agents.plugin import MCP_PREFIXES, plugin_dir, plugin_files, sync_plugin
from diffusers_integrator.data import data_dir
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.evals import plugin_export
from diffusers_integrator.evals.cases import load_cases
from diffusers_integrator.server import tool_specs

from ..conftest import needs
from ..mcp_helpers import call


REPO = Path(__file__).resolve().parents[2]
PLUGIN = plugin_dir()
CLAUDE = REPO / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"
BIN = str(Path(sys.executable).parent)  # where `diffusers-integrator` is, as on a user's PATH
GRANTS = ["Write", "Edit", f"{plugin_export.TOOL_PREFIX}*"]  # Bash needs a sandbox (bubblewrap) to be granted


@pytest.fixture
def claude(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """Claude Code's CLI with a fresh HOME, no credential and no traffic but what a command needs."""
    if not CLAUDE.exists():
        needs(
            f"Claude Code's CLI in {CLAUDE.parents[2]}", "run `make claude-cli` (needs npm); `make test` installs it"
        )
    secret = re.compile(r"ANTHROPIC|CLAUDE|AWS_|GOOGLE|VERTEX|BEDROCK")
    env = {key: value for key, value in os.environ.items() if not secret.search(key)}
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
    )
    return str(CLAUDE), env


def _run(claude: tuple[str, dict[str, str]], *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    binary, env = claude
    return subprocess.run(
        [binary, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL
    )


def test_the_plugin_and_its_eval_suite_are_generated_from_their_sources() -> None:
    assert sync_plugin(write=False) == [], "run `diffusers-integrator agent plugin --write`"
    assert plugin_export.sync_plugin_evals(write=False) == [], "run `diffusers-integrator eval export-plugin --write`"
    skills = data_dir("skills")
    for path in (p for p in skills.rglob("*") if p.is_file()):
        assert (PLUGIN / "skills" / path.relative_to(skills)).read_bytes() == path.read_bytes()
    assert plugin_export.TOOL_PREFIX == MCP_PREFIXES[1]


def test_a_stale_plugin_is_found_and_rewritten(tmp_path: Path) -> None:
    shutil.copytree(PLUGIN, tmp_path / "plugin")
    plugin = tmp_path / "plugin"
    (plugin / "skills" / "removed-skill").mkdir()
    (plugin / "skills" / "removed-skill" / "SKILL.md").write_text("---\nname: removed-skill\n---\n")
    (plugin / "skills" / "parity-testing" / "SKILL.md").write_text("edited by hand\n")
    (plugin / ".mcp.json").unlink()
    stale = {Path(p).relative_to(plugin).as_posix() for p in sync_plugin(plugin, write=True)}
    assert stale == {"skills/removed-skill/SKILL.md", "skills/parity-testing/SKILL.md", ".mcp.json"}
    assert not (plugin / "skills" / "removed-skill").exists()
    assert sync_plugin(plugin, write=False) == []
    assert set(plugin_files()) <= {p.relative_to(plugin).as_posix() for p in plugin.rglob("*") if p.is_file()}


def _problems(report: dict[str, Any]) -> list[str]:
    parts = [report.get("manifest") or {}, *report.get("contents", [])]
    return [f"{kind}: {item}" for part in parts for kind in ("errors", "warnings") for item in part.get(kind, [])]


def test_claude_validates_the_plugin_and_the_marketplace_strictly(claude: tuple[str, dict[str, str]]) -> None:
    for target in (PLUGIN, REPO):
        validated = _run(claude, "plugin", "validate", "--strict", "--json", str(target))
        report = json.loads(validated.stdout)
        assert validated.returncode == 0 and report["success"], _problems(report) or validated.stderr
        assert _problems(report) == []
    provides = json.loads(_run(claude, "plugin", "validate", "--json", str(PLUGIN)).stdout)["provides"]
    assert provides["skills"] == [
        f"diffusers-integrator:{name}" for name in sorted(p.name for p in data_dir("skills").iterdir() if p.is_dir())
    ]
    assert provides["agents"] == ["diffusers-integrator:diffusers-parity", "diffusers-integrator:diffusers-review"]
    assert [(s["name"], s["target"], s["args"]) for s in provides["mcpServers"]] == [
        ("diffusers-integrator", "diffusers-integrator", ["serve"])
    ]


def test_claude_installs_the_plugin_from_a_clone_and_connects_to_its_server(
    claude: tuple[str, dict[str, str]], diffusers_tree: Path
) -> None:
    """The README's one step, then Claude Code's own health check starts the plugin's server in the clone."""
    installed = _run(claude, "plugin", "install", "diffusers-integrator", "--marketplace", str(REPO))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = _run(claude, "plugin", "list", "--json")
    assert "diffusers-integrator@diffusers-integrator" in listed.stdout
    (copy,) = (Path(claude[1]["HOME"]) / ".claude" / "plugins" / "cache").glob("*/diffusers-integrator/*")
    for rel in (".mcp.json", "skills/integrating-models/SKILL.md", "agents/diffusers-parity.md"):
        assert (copy / rel).read_bytes() == (PLUGIN / rel).read_bytes(), rel
    health = _run(claude, "mcp", "list", cwd=diffusers_tree)
    line = next(line for line in health.stdout.splitlines() if line.startswith("plugin:diffusers-integrator:"))
    assert "diffusers-integrator serve" in line and "Connected" in line, health.stdout + health.stderr


@pytest.mark.anyio
async def test_the_server_the_plugin_names_lists_every_tool(diffusers_tree: Path) -> None:
    """Started as Claude Code starts it: the `.mcp.json` command, found on PATH, in the folder Claude Code runs in."""
    (server,) = json.loads((PLUGIN / ".mcp.json").read_text())["mcpServers"].values()
    command = shutil.which(server["command"], path=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    assert command, f"{server['command']} is not on PATH"
    params = StdioServerParameters(command=command, args=server["args"], cwd=diffusers_tree)
    async with Client(params) as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == [spec.name for spec in tool_specs()]
        assert (await call(client, "inspect_checkout"))["root"] == str(diffusers_tree.resolve())


def _eval(claude: tuple[str, dict[str, str]], out: Path, *args: str) -> tuple[dict[str, Any], str]:
    """`claude plugin eval` on the plugin as a live run would call it, minus the shell (no sandbox here)."""
    ran = _run(
        claude,
        *("plugin", "eval", str(PLUGIN), "--trust-plugin", "--no-publish", "--ablation", "none"),
        *("--allow-real-servers", "--allow-tools", *GRANTS),
        *("--output-dir", str(out), "--report", str(out / "report.html"), "--json", str(out / "result.json")),
        *args,
    )
    return json.loads((out / "result.json").read_text()), ran.stdout + ran.stderr


def test_claude_plugin_eval_loads_every_exported_case_and_stops_before_a_model_call(
    claude: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    result, output = _eval(claude, tmp_path)
    assert "Couldn't load" not in output and "invalid case.yaml" not in output, output
    assert "cannot pass with the granted tools" not in output, output
    assert (result["partialReason"], result["costUsd"]) == ("auth_failed", 0)
    assert [p["name"] for p in result["suite"]["plugins"]] == ["diffusers-integrator"]
    exported = sorted(p.parent.name for p in (PLUGIN / "evals").glob("*/case.yaml"))
    assert exported == sorted(case.id for case in load_cases() if plugin_export.exported(case))


def test_claude_plugin_eval_runs_the_scaffold_that_lays_the_cases_tree(
    claude: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    result, output = _eval(claude, tmp_path, "--case", "tinydit", "--scaffold")
    (case,) = result["cases"]
    (run,) = case["arms"]["with"]
    assert "Not logged in" in run["error"] and result["costUsd"] == 0, output
    graders = {grader["name"]: grader for grader in run["graders"]}
    wanted = yaml.safe_load((PLUGIN / "evals" / "tinydit" / "case.yaml").read_text())["graders"]
    assert list(graders) == [grader["name"] for grader in wanted]
    # The tree is there (the init exists) and the work is not (no model ran): each grader fails for that reason.
    assert (
        graders["registration-TinyDiTPipeline"]["explanation"] == "pattern not found in file src/diffusers/__init__.py"
    )
    assert "never called" in graders["process-questions-before-plan"]["explanation"]
    assert "missing (expected present)" in graders["files-tests-pipelines-tiny-dit-test-tiny-dit-py"]["explanation"]


def test_the_exported_graders_pass_on_upstreams_own_end_state(diffusers_clone: Path) -> None:
    """Every strip-and-restore grader holds on upstream's tree (what a perfect restore leaves), and names a tool
    the server has: a grader no session could pass would only measure noise."""
    tools = {plugin_export.tool(spec.name) for spec in tool_specs()}
    for case in load_cases():
        if not (plugin_export.exported(case) and case.base.strip):
            continue
        for grader in plugin_export.graders(case):
            if grader["type"] == "file_exists":
                assert (diffusers_clone / grader["path"]).is_file(), (case.id, grader)
            elif grader["type"] == "regex":
                text = (diffusers_clone / grader["target"]["path"]).read_text(encoding="utf-8")
                assert re.search(grader["pattern"], text), (case.id, grader)
            elif grader["type"] == "tool_order":
                assert {grader["before"], grader["after"]} <= tools, (case.id, grader)
            else:
                assert grader["tool"] in tools, (case.id, grader)


def test_a_strip_cases_scaffold_leaves_upstreams_version_one_commit_back(
    diffusers_clone: Path, tmp_path: Path
) -> None:
    """What the exported prompt promises: the integration is gone from the tree and `git show HEAD~1:<path>` has it."""
    (case,) = load_cases(["strip-scheduler-lcm"])
    tree = tmp_path / "tree"
    env = {**os.environ, "DIFFUSERS_CLONE": str(diffusers_clone), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    tree.mkdir()
    script = PLUGIN / "evals" / case.id / plugin_export.SCAFFOLD
    subprocess.run(["bash", str(script)], cwd=tree, env=env, check=True, capture_output=True, timeout=300)
    for path in case.base.strip:
        assert not (tree / path).exists(), path
        upstream = subprocess.run(["git", "show", f"HEAD~1:{path}"], cwd=tree, capture_output=True, text=True)
        assert upstream.stdout == (diffusers_clone / path).read_text(encoding="utf-8"), path
    with pytest.raises(IntegratorError, match="not empty"):
        plugin_export.lay_tree(case, tree)
