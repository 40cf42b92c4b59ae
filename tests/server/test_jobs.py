"""Background jobs: work that outlives wait_s is followed and fetched through job_status, over real MCP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from pydantic import BaseModel, Field

from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.server import build_server
from diffusers_integrator.server.app import add_tool
from diffusers_integrator.server.jobs import DEFAULT_WAIT_S, JobRegistry, JobResult, WaitSeconds
from diffusers_integrator.server.session import ServerOptions
from diffusers_integrator.server.spec import ToolSpec

from ..mcp_helpers import call, call_error


class CountRequest(BaseModel):
    steps: int = Field(description="How many steps to count.")
    step_s: float = Field(description="Seconds per step.")
    fail_at: int | None = Field(default=None, description="Fail (as an anticipated error) at this step.")
    wait_s: WaitSeconds = DEFAULT_WAIT_S


class Counted(BaseModel):
    steps: int
    total_s: float


def _count(session, request: CountRequest, progress) -> JobResult[Counted]:
    def work(report) -> Counted:
        started = time.monotonic()
        for step in range(1, request.steps + 1):
            time.sleep(request.step_s)
            if step == request.fail_at:
                raise IntegratorError(f"Step {step} failed.", "Count fewer steps.")
            report(step, request.steps, f"step {step}")
        return Counted(steps=request.steps, total_s=round(time.monotonic() - started, 3))

    return session.jobs.run("count", work, wait_s=request.wait_s, progress=progress, result_model=Counted)


def _server(workspace: Path, monkeypatch: pytest.MonkeyPatch):
    """The real server plus a long-running tool wired exactly as tool_specs() tools are."""
    server = build_server(ServerOptions(checkout=workspace))
    spec = ToolSpec("count_slowly", "Count slowly", CountRequest, JobResult[Counted], _count, "read")
    add_tool(server, spec, server.integrator_session, description="Count slowly (test tool).")
    return server


class Progress:
    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))


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
async def test_quick_work_returns_its_result_directly(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = _server(workspace, monkeypatch)
    async with Client(server, mode="auto") as client:
        progress = Progress()
        reply = await client.call_tool("count_slowly", {"steps": 3, "step_s": 0.01}, progress_callback=progress)
        failed = await call_error(client, "count_slowly", {"steps": 3, "step_s": 0.01, "fail_at": 2})
        listing = await call(client, "job_status", {"wait_s": 0})
    assert reply.structured_content["job"] is None and reply.structured_content["result"]["steps"] == 3
    assert progress.seen[-1] == (3.0, 3.0, "step 3")
    assert "Step 2 failed. Count fewer steps." in failed
    assert listing["jobs"] == []  # work that returned directly never became a job to follow


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
async def test_jobs_survive_the_client_disconnecting(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = _server(workspace, monkeypatch)
    async with Client(server, mode="legacy") as client:
        ref = (await call(client, "count_slowly", {"steps": 5, "step_s": 0.1, "wait_s": 0}))["job"]
    # The first client is gone; the work goes on in the server, and a new client fetches the result.
    async with Client(server, mode="auto") as client:
        status = await call(client, "job_status", {"job_id": ref["job_id"], "wait_s": 20})
    assert status["job"]["state"] == "succeeded" and status["result"]["steps"] == 5

    # A later server process on the same checkout (a new session) still reads how the job ended.
    async with Client(_server(workspace, monkeypatch), mode="auto") as client:
        again = await call(client, "job_status", {"job_id": ref["job_id"], "wait_s": 0})
        listing = await call(client, "job_status", {"wait_s": 0})
    assert again["job"]["state"] == "succeeded" and again["result"] == status["result"]
    assert again["job"]["session_id"] == server.integrator_session.session_id
    assert listing["jobs"] == []  # listed per session


def test_a_job_whose_process_died_is_lost(workspace: Path) -> None:
    from diffusers_integrator.server.session import IntegratorSession

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = workspace / ".diffusers-integrator" / "jobs"
    folder.mkdir(parents=True)
    record = {
        "pid": dead.pid,
        "job": {"job_id": "job-deadbeef", "name": "run_parity", "state": "running", "started": "2026-01-01T00:00:00Z"},
        "result": None,
    }
    (folder / "job-deadbeef.json").write_text(json.dumps(record))
    status = IntegratorSession(ServerOptions(checkout=workspace)).jobs.status("job-deadbeef")
    assert status.job.state == "lost" and "Start the work again" in status.job.error


def test_registry_without_a_session_runs_in_memory() -> None:
    registry = JobRegistry()
    outcome = registry.run("quick", lambda report: Counted(steps=1, total_s=0.0), wait_s=5, result_model=Counted)
    assert outcome.result == Counted(steps=1, total_s=0.0) and outcome.job is None
    slow = registry.run(
        "slow", lambda report: (time.sleep(0.3), Counted(steps=2, total_s=0.3))[1], wait_s=0, result_model=Counted
    )
    assert slow.job is not None and slow.result is None
    final = registry.status(slow.job.job_id, wait_s=10)
    assert final.job.state == "succeeded" and final.result == {"steps": 2, "total_s": 0.3}
    with pytest.raises(TypeError):
        registry.run("wrong", lambda report: "not a model", wait_s=5, result_model=Counted)  # type: ignore[arg-type]
