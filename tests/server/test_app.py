"""The server as clients see it: in process (both protocol generations), over stdio, over HTTP, and
through an independent client (the MCP Inspector)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from pydantic import BaseModel, Field

from diffusers_integrator.server import build_server, tool_specs
from diffusers_integrator.server.app import add_tool
from diffusers_integrator.server.descriptions import load_tool_docs
from diffusers_integrator.server.session import ServerOptions
from diffusers_integrator.server.spec import ToolSpec

from ..conftest import needs
from ..mcp_helpers import call, call_error
from .helpers import http_server


REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "diffusers_integrator.cli"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_in_process_client_lists_and_calls_a_read_only_tool(diffusers_tree: Path, mode: str) -> None:
    async with Client(build_server(ServerOptions(checkout=diffusers_tree)), mode=mode) as client:
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        assert "integrating-models" in (client.instructions or "")
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert names == [spec.name for spec in tool_specs()]
        survey = await call(client, "inspect_checkout")
    assert survey["layout"] == "git-clone" and survey["diffusers_version"]
    assert survey["counts"]["pipeline_packages"] > 50
    assert "utils/check_dummies.py" in survey["helpers_missing"]


@pytest.mark.anyio
async def test_read_only_mode_hides_every_tool_that_writes_the_checkout() -> None:
    async with Client(build_server(ServerOptions(read_only=True)), mode="legacy") as client:
        tools = (await client.list_tools()).tools
    writers = {spec.name for spec in tool_specs() if spec.access == "write"}
    assert writers and not writers & {tool.name for tool in tools}
    assert {"inspect_checkout", "check_registration", "job_status"} <= {tool.name for tool in tools}


@pytest.mark.anyio
async def test_a_server_without_a_tree_starts_and_its_tools_name_the_fix(tmp_path: Path) -> None:
    async with Client(build_server(ServerOptions(checkout=tmp_path)), mode="legacy") as client:
        message = await call_error(client, "inspect_checkout")
    assert "--checkout" in message


def test_every_tool_has_a_description_file_and_every_file_names_a_tool() -> None:
    docs = load_tool_docs()
    names = {spec.name for spec in tool_specs()}
    assert names == set(docs), f"without a file: {names - set(docs)}; file without a tool: {set(docs) - names}"


def test_generated_docs_agree_with_the_tools() -> None:
    result = subprocess.run([*CLI, "docs", "--check"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_start_up_imports_neither_torch_diffusers_nor_anthropic() -> None:
    probe = (
        "import sys, anyio\n"
        "from mcp import Client\n"
        "from diffusers_integrator.server import build_server\n"
        "async def main():\n"
        "    async with Client(build_server(), mode='legacy') as client:\n"
        "        await client.list_tools()\n"
        "anyio.run(main)\n"
        "print(sorted(m for m in ('torch', 'diffusers', 'anthropic', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.anyio
async def test_stdio_server_speaks_only_protocol_on_stdout(diffusers_tree: Path) -> None:
    params = StdioServerParameters(command=CLI[0], args=[*CLI[1:], "serve", "--checkout", str(diffusers_tree)])
    async with Client(params) as client:
        assert len((await client.list_tools()).tools) == len(tool_specs())
        survey = await call(client, "inspect_checkout")
    assert survey["root"] == str(diffusers_tree.resolve())


@pytest.mark.anyio
async def test_streamable_http_transport(diffusers_tree: Path) -> None:
    with http_server(diffusers_tree) as url:
        async with Client(url) as client:
            assert len((await client.list_tools()).tools) == len(tool_specs())
            assert (await call(client, "inspect_checkout"))["layout"] == "git-clone"


def _inspector() -> tuple[list[str], dict[str, str]]:
    folder = REPO / ".cache" / "inspector" / "node_modules"
    binary = folder / ".bin" / "mcp-inspector"
    node_bins = sorted(folder.glob("node-*/bin"))
    if not binary.exists() or not node_bins:
        needs(
            f"the MCP Inspector (the independent client) in {folder.parent}",
            "run `make inspector` (needs npm); `make test` installs it first",
        )
    env = {**os.environ, "PATH": f"{node_bins[0]}{os.pathsep}{os.environ['PATH']}"}
    return [str(binary), "--cli"], env


def test_the_mcp_inspector_lists_every_tool_and_calls_a_read_only_one(diffusers_tree: Path, tmp_path: Path) -> None:
    inspector, env = _inspector()
    env["MCP_CATALOG_PATH"] = str(tmp_path / "catalog.json")
    server = [shutil.which("diffusers-integrator") or str(Path(sys.executable).parent / "diffusers-integrator")]
    server += ["serve", "--checkout", str(diffusers_tree)]
    listed = subprocess.run(
        [*inspector, *server, "--method", "tools/list"], capture_output=True, text=True, env=env, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert [tool["name"] for tool in json.loads(listed.stdout)["tools"]] == [spec.name for spec in tool_specs()]
    called = subprocess.run(
        [*inspector, *server, "--method", "tools/call", "--tool-name", "inspect_checkout"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert not result.get("isError") and result["structuredContent"]["layout"] == "git-clone"


class _Echo(BaseModel):
    text: str = Field(description="What to echo.")


class _Echoed(BaseModel):
    text: str


def _crash(session, request: _Echo, progress) -> _Echoed:
    raise RuntimeError(f"the backend said: {request.text}")


def _echo(session, request: _Echo, progress) -> _Echoed:
    return _Echoed(text=f"you said {request.text}")


@pytest.mark.anyio
async def test_no_secret_reaches_a_response_an_error_or_the_log(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15 #6 and #8: tool responses and a stderr log line carried $ANTHROPIC_API_KEY, and an unexpected
    failure came back as a bare "Error executing tool X"."""
    secret = "sk-ant-api03-APPfakeAPPfakeAPPfake0123"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    server = build_server(ServerOptions(checkout=workspace))
    add_tool(server, ToolSpec("echo", "Echo", _Echo, _Echoed, _echo, "read"), server.integrator_session, "Echo.")
    add_tool(server, ToolSpec("crash", "Crash", _Echo, _Echoed, _crash, "read"), server.integrator_session, "Crash.")
    with caplog.at_level(logging.INFO):
        async with Client(server, mode="legacy") as client:
            echoed = await client.call_tool("echo", {"text": secret})
            crashed = await call_error(client, "crash", {"text": secret})
    assert secret not in json.dumps(echoed.structured_content) and secret not in echoed.content[0].text
    assert echoed.structured_content["text"] == "you said [redacted:$ANTHROPIC_API_KEY]"
    assert "`crash` failed unexpectedly (RuntimeError" in crashed and "report it" in crashed
    assert secret not in crashed
    assert "crash failed unexpectedly" in caplog.text and secret not in caplog.text
