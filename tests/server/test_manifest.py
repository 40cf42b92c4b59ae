"""Start-up from the tool manifest: the same `tools/list` as a server that builds every tool, tools built on their
first call, a manifest of other code never used, and no tool module imported at start-up."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.manifest import LazyToolManager, manifest_path
from diffusers_integrator.server.session import ServerOptions

from ..mcp_helpers import call, wire


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIFFUSERS_INTEGRATOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


async def _listing(server) -> list[dict]:
    async with Client(server, mode="legacy") as client:
        return wire(await client.list_tools())["tools"]


def _pending(server) -> set[str]:
    manager = server._tool_manager
    assert isinstance(manager, LazyToolManager)
    return set(manager._pending)


@pytest.mark.anyio
@pytest.mark.parametrize("read_only", [False, True], ids=["full", "read-only"])
async def test_the_manifest_lists_exactly_what_building_every_tool_lists(cache: Path, read_only: bool) -> None:
    options = ServerOptions(read_only=read_only)
    built = build_server(options)  # no manifest yet: every tool built, the manifest written
    assert not _pending(built) and manifest_path().is_file()
    lazy = build_server(options)
    assert _pending(lazy) and len(_pending(lazy)) == len(await _listing(built))
    assert await _listing(lazy) == await _listing(built)


@pytest.mark.anyio
async def test_a_listed_tool_is_built_on_its_first_call(cache: Path, diffusers_tree: Path) -> None:
    build_server()
    server = build_server(ServerOptions(checkout=diffusers_tree))
    async with Client(server, mode="legacy") as client:
        survey = await call(client, "inspect_checkout")
        assert survey["layout"] == "git-clone"
    assert "inspect_checkout" not in _pending(server) and "make_quality" in _pending(server)


def test_a_manifest_of_other_code_is_ignored(cache: Path) -> None:
    build_server()
    path = manifest_path()
    data = json.loads(path.read_text())
    assert any(name.endswith("server/tools/make_quality.py") for name in data["files"])
    assert any(name.endswith("tools/make_quality.md") for name in data["files"])
    assert _pending(build_server())  # every file as it was: used
    tool_module = next(name for name in data["files"] if name.endswith("server/tools/make_quality.py"))
    data["files"][tool_module][1] += 1  # as if the tool's module had been edited since
    path.write_text(json.dumps(data))
    assert not _pending(build_server())  # rebuilt, and the manifest written anew
    assert _pending(build_server())


def test_start_up_imports_no_tool_module_and_nothing_heavy(cache: Path) -> None:
    script = (
        "import sys\n"
        "from diffusers_integrator.server import build_server\n"
        "build_server()\n"
        "heavy = ('torch', 'diffusers', 'anthropic', 'inspect_ai')\n"
        "print(sorted(m for m in sys.modules if m.startswith('diffusers_integrator.server.tools') "
        "or m.split('.')[0] in heavy))\n"
    )
    env = {**os.environ, "DIFFUSERS_INTEGRATOR_CACHE": str(cache)}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env) for _ in "12"]
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr
    first, second = (ast.literal_eval(run.stdout) for run in runs)
    assert "diffusers_integrator.server.tools.make_quality" in first  # no manifest yet: every tool built
    assert second == []  # from the manifest: no tool module, nothing heavy
