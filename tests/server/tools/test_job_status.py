"""job_status through a real MCP client: a job that outlives wait_s is followed, waited for and fetched, and a
failure after wait_s is reported (the long-running tool is `count_slowly`, from counting.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ..counting import Progress, _server


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_job_past_wait_s_is_fetched_through_job_status(
    workspace: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _server(workspace, monkeypatch)
    async with Client(server, mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        schema = tools["count_slowly"].output_schema
        assert set(schema["properties"]) == {"job", "result"} and "Counted" in json.dumps(schema)

        first = Progress()
        started = time.monotonic()
        reply = await client.call_tool(
            "count_slowly", {"steps": 8, "step_s": 0.2, "wait_s": 0.5}, progress_callback=first
        )
        assert time.monotonic() - started < 1.5  # returned at wait_s, not at the end of the work
        assert not reply.is_error
        ref = reply.structured_content["job"]
        assert reply.structured_content["result"] is None
        assert ref["state"] == "running" and ref["name"] == "count" and "job_status" in ref["next_step"]
        assert first.seen and first.seen[-1][1] == 8  # progress reached the caller while it waited

        # Poll at once: the work goes on and its progress moves.
        polled = []
        for _ in range(40):
            status = await call(client, "job_status", {"job_id": ref["job_id"], "wait_s": 0})
            polled.append(status["job"]["progress"]["done"] if status["job"]["progress"] else 0)
            if polled[-1] >= 5:
                break
            await anyio.sleep(0.1)
        assert status["job"]["state"] == "running" and status["result"] is None
        assert polled[-1] > (ref["progress"] or {}).get("done", 0)

        # Wait for the end: progress flows as notifications of the job_status call, then the result.
        later = Progress()
        done = await client.call_tool("job_status", {"job_id": ref["job_id"], "wait_s": 20}, progress_callback=later)
        final = done.structured_content
        assert final["job"]["state"] == "succeeded" and final["job"]["error"] is None
        assert final["result"]["steps"] == 8 and final["result"]["total_s"] >= 1.6
        assert final["job"]["progress"] == {"done": 8.0, "total": 8.0, "message": "step 8"}
        assert later.seen and later.seen[-1] == (8.0, 8.0, "step 8")
        assert final["job"]["duration_s"] >= 1.6 and final["job"]["finished"]

        listing = await call(client, "job_status", {"wait_s": 0})
        assert [job["job_id"] for job in listing["jobs"]] == [ref["job_id"]]
        assert listing["next_step"] == "No job is running."

    record = json.loads((workspace / ".diffusers-integrator" / "jobs" / f"{ref['job_id']}.json").read_text())
    assert record["job"]["state"] == "succeeded" and record["result"]["steps"] == 8


@pytest.mark.anyio
async def test_failure_after_wait_s_is_reported_by_job_status(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _server(workspace, monkeypatch)
    async with Client(server, mode="auto") as client:
        ref = (await call(client, "count_slowly", {"steps": 4, "step_s": 0.1, "fail_at": 3, "wait_s": 0}))["job"]
        status = await call(client, "job_status", {"job_id": ref["job_id"], "wait_s": 20})
        unknown = await call_error(client, "job_status", {"job_id": "job-00000000", "wait_s": 0})
    assert status["job"]["state"] == "failed" and status["result"] is None
    assert status["job"]["error"] == "Step 3 failed. Count fewer steps." == status["next_step"]
    assert "No job 'job-00000000' in this session" in unknown


@pytest.mark.anyio
async def test_a_huge_job_id_is_refused_naming_the_field_without_echoing_it(workspace: Path) -> None:
    """Issue 15 #8: a 1 MB job_id ended in a bare error (and errors echoed megabytes)."""
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        huge = await call_error(client, "job_status", {"job_id": "job-" + "0" * 1_000_000})
        odd = await call_error(client, "job_status", {"job_id": "../../etc/passwd"})
    assert "job_id" in huge and len(huge) < 2000
    assert "job_id" in odd and "pattern" in odd
