"""The real `serve` command over stdio: elicitation, fallback, the trace it leaves, and the sessions CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from ..mcp_helpers import call
from .helpers import MODES, PLAN, PROTOCOL, QUESTIONS, ScriptedHuman, accept


FAKE_TOKEN = "hf_STDIOfakeSTDIOfake0123456789"
CLI = str(Path(sys.executable).with_name("diffusers-integrator"))


def _serve(workspace: Path) -> StdioServerParameters:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), "HF_TOKEN": FAKE_TOKEN}
    return StdioServerParameters(command=CLI, args=["serve", "--checkout", str(workspace)], env=env)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, check=False, timeout=60)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_stdio_session(workspace: Path, mode: str) -> None:
    human = ScriptedHuman(
        [accept(q1="Modular", q2=["text-to-video"], q1_note=f"token {FAKE_TOKEN}"), accept(decision="accept")]
    )
    async with Client(_serve(workspace), mode=mode, elicitation_callback=human) as client:
        assert client.protocol_version == PROTOCOL[mode]
        asked = await call(client, "ask_user_question", QUESTIONS)
        approved = await call(client, "confirm_plan", PLAN)
        plan = json.loads((await client.read_resource("plan://current")).contents[0].text)
    # Responses are scrubbed like traces: the secret the human typed never reaches the agent either.
    assert asked["form"] == "answered" and asked["answers"][0]["note"] == "token [redacted:$HF_TOKEN]"
    plan_id = approved["plan_id"]
    assert approved["plan_status"] == "approved" and plan["approved"] and plan["plan_id"] == plan_id
    assert len(human.forms) == 2

    listed = _cli("sessions", "list", "--checkout", str(workspace), "--json")
    assert listed.returncode == 0, listed.stderr
    (session,) = json.loads(listed.stdout)["sessions"]
    assert session["calls"] == 2 and session["errors"] == 0 and session["approved_plan"] == plan_id
    assert session["protocol_version"] == PROTOCOL[mode]
    shown = _cli("sessions", "show", session["session_id"][:17], "--checkout", str(workspace))
    assert shown.returncode == 0, shown.stderr
    assert "ask_user_question" in shown.stdout and f"{plan_id}: accept (elicitation) -> approved" in shown.stdout
    trace = (workspace / session["path"]).read_text()
    assert FAKE_TOKEN not in trace and "[redacted:$HF_TOKEN]" in trace


@pytest.mark.anyio
async def test_stdio_without_elicitation_falls_back(workspace: Path) -> None:
    async with Client(_serve(workspace), mode="auto") as client:
        asked = await call(client, "ask_user_question", QUESTIONS)
        plan = await call(client, "confirm_plan", PLAN)
    assert asked["form"] == "not_shown" and len(asked["ask_in_chat"]) == 2
    assert plan["form"] == "not_shown" and plan["plan_status"] == "awaiting_verdict" and plan["plan_markdown"]


def test_sessions_cli_without_traces(workspace: Path) -> None:
    listed = _cli("sessions", "list", "--checkout", str(workspace))
    assert listed.returncode == 0 and "No session traces" in listed.stdout
    shown = _cli("sessions", "show", "--checkout", str(workspace))
    assert shown.returncode == 2 and "No session traces" in shown.stderr
