"""A long-running test tool, `count_slowly`, wired into the real server exactly as tool_specs() tools are."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.server import build_server
from diffusers_integrator.server.app import add_tool
from diffusers_integrator.server.jobs import DEFAULT_WAIT_S, JobResult, WaitSeconds
from diffusers_integrator.server.session import ServerOptions
from diffusers_integrator.server.spec import ToolSpec


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
