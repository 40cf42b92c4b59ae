"""Background jobs: quick work returns directly, jobs outlive the client and the process, a dead job is lost,
and the registry runs without a session (job_status itself is tested in tools/test_job_status.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server.jobs import JobRegistry
from diffusers_integrator.server.session import ServerOptions

from ..mcp_helpers import call, call_error
from .counting import Counted, Progress, _server


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
