"""make_quality through a real MCP client (both protocol modes): structured findings, the write gate for fixes,
long runs as jobs, and bad arguments refused with the choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ...quality.plant import STALE_COPY_PATH, plant_stale_copy, plant_unsorted


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_findings_come_back_as_structured_output(workspace: Path, mode: str) -> None:
    spot = plant_stale_copy(workspace)
    server = build_server(ServerOptions(checkout=workspace, require_approval=True))
    async with Client(server, mode=mode) as client:
        # Checking writes nothing but its log, so it needs no approved plan.
        answer = await call(client, "make_quality", {"scope": [STALE_COPY_PATH], "checks": ["copies", "ruff-check"]})
    result = answer["result"]
    assert answer.get("job") is None
    assert [(f["code"], f["path"], f["line"]) for f in result["findings"]] == [("copy-mismatch", spot.path, spot.line)]
    assert [s["check"] for s in result["summary"]] == ["ruff-check", "copies"]
    assert result["log_file"].startswith(".diffusers-integrator/logs/quality-")
    assert len(json.dumps(result)) < 6000  # a few hundred tokens, as the tool promises


@pytest.mark.anyio
async def test_fix_passes_the_write_gate(workspace: Path) -> None:
    plant_stale_copy(workspace)
    gated = build_server(ServerOptions(checkout=workspace, require_approval=True))
    async with Client(gated, mode="legacy") as client:
        refusal = await call_error(client, "make_quality", {"fix": True})
    assert "no plan has been approved" in refusal
    assert "FloatTensor" in (workspace / STALE_COPY_PATH).read_text()

    read_only = build_server(ServerOptions(checkout=workspace, read_only=True))
    async with Client(read_only, mode="legacy") as client:
        # It runs ruff and the checkout's own check scripts: --read-only lists no tool that runs code.
        assert "make_quality" not in {tool.name for tool in (await client.list_tools()).tools}
        assert "Unknown tool" in await call_error(client, "make_quality", {"fix": True})

    open_server = build_server(ServerOptions(checkout=workspace, require_approval=False))
    async with Client(open_server, mode="legacy") as client:
        answer = await call(client, "make_quality", {"fix": True, "checks": ["copies"]})
    assert [item["path"] for item in answer["result"]["fixed"]] == [STALE_COPY_PATH]
    assert answer["result"]["ok"] is True
    assert "FloatTensor" not in (workspace / STALE_COPY_PATH).read_text()


@pytest.mark.anyio
async def test_a_run_longer_than_wait_s_becomes_a_job(workspace: Path) -> None:
    plant_unsorted(workspace)
    server = build_server(ServerOptions(checkout=workspace, require_approval=False))
    async with Client(server, mode="legacy") as client:
        started = await call(client, "make_quality", {"wait_s": 0, "checks": ["ruff-check"]})
        job = started["job"]
        assert started.get("result") is None and job["name"] == "make_quality"
        status = await call(client, "job_status", {"job_id": job["job_id"], "wait_s": 30})
    assert status["job"]["state"] == "succeeded"
    assert [f["code"] for f in status["result"]["findings"]] == ["I001"]


@pytest.mark.anyio
async def test_bad_arguments_are_refused_with_the_choices(workspace: Path) -> None:
    server = build_server(ServerOptions(checkout=workspace, require_approval=False))
    async with Client(server, mode="legacy") as client:
        message = await call_error(client, "make_quality", {"checks": ["black"]})
    assert "ruff-check" in message and "black" in message
