"""The scaffold tool through a real MCP client: a dry run needs no approval, a real run writes and refuses a
collision, and long diffs go to a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ...scaffold.conftest import git_status


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_dry_run_needs_no_approval_but_a_real_run_does(workspace: Path, mode: str) -> None:
    server = build_server(ServerOptions(checkout=workspace, require_approval=True))
    async with Client(server, mode=mode) as client:
        preview = await call(client, "scaffold", {"model_name": "Foo", "pipeline": "standard", "dry_run": True})
        refusal = await call_error(client, "scaffold", {"model_name": "Foo", "pipeline": "standard"})
    assert preview["dry_run"] is True
    assert preview["names"]["transformer"] == "FooTransformer2DModel"
    assert [p["class_name"] for p in preview["names"]["pipelines"]] == ["FooPipeline"]
    assert "confirm_plan" in refusal
    assert git_status(workspace) == ""


@pytest.mark.anyio
async def test_real_run_and_collision_through_the_client(workspace: Path) -> None:
    server = build_server(ServerOptions(checkout=workspace, require_approval=False))
    async with Client(server, mode="legacy") as client:
        result = await call(client, "scaffold", {"model_name": "Foo", "dims": "3d", "pipeline": "modular"})
        clash = await call_error(client, "scaffold", {"model_name": "Wan", "dims": "3d"})
    assert "FooModularPipeline" in result["registered"]
    assert {f["action"] for f in result["files"]} == {"created"}
    assert "src/diffusers/modular_pipelines/modular_pipeline.py" in {c["path"] for c in result["changes"]}
    assert all(item["skill"].split("#")[0].endswith(".md") for item in result["checklist"])
    # The full diff is long: it went to a file under the state dir, and the result stays small.
    assert result["diff_file"] == ".diffusers-integrator/scaffold/foo.diff"
    assert len(json.dumps(result)) < 40_000
    assert "+class FooTransformer3DModel(" in (workspace / result["diff_file"]).read_text()
    assert "WanTransformer3DModel is already defined" in clash


@pytest.mark.anyio
async def test_the_diff_file_and_the_answer_carry_no_secret(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15 #6: the scaffold's diff file was named after the model, which carried $ANTHROPIC_API_KEY."""
    secret = "zqsecretkey12345678"  # an opaque key: only the environment says it is one
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    server = build_server(ServerOptions(checkout=workspace, require_approval=False))
    async with Client(server, mode="legacy") as client:
        result = await call(client, "scaffold", {"model_name": secret, "pipeline": "standard", "dry_run": True})
    assert result["diff_file"] == ".diffusers-integrator/scaffold/scaffold-dry-run.diff"
    assert secret not in json.dumps(result) and "[redacted:$ANTHROPIC_API_KEY]" in json.dumps(result)
    for path in (workspace / ".diffusers-integrator").rglob("*"):
        assert secret not in path.name
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
