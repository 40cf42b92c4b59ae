"""The runner end to end on a real tree and a real server over stdio, its API played by a short script.

A run records every exchange and writes the key nowhere; its cassette replays to the same end state; a request
that differs fails with a diff; the turn and budget limits stop every agent before the next request.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from diffusers_integrator.agents.cassette import Cassette
from diffusers_integrator.agents.roles import ROLES
from diffusers_integrator.agents.runner import RunResult, run_agents
from diffusers_integrator.testing.trees import copy_tree
from diffusers_integrator.traces import read_trace

from .helpers import PLANTED_KEY, lines_of, options


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def recorded(diffusers_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One recorded run with an API key (and a token) planted in the environment."""
    folder = tmp_path_factory.mktemp("recorded")
    tree = copy_tree(diffusers_tree, folder / "diffusers")
    lines: list[str] = []
    run = options(tree, folder, lines, record=folder / "run.jsonl")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
        patch.setenv("HF_TOKEN", "hf_PLANTEDplantedPLANTED0123456789")
        result = await run_agents(run)
    return {"result": result, "lines": lines, "tree": tree, "folder": folder, "api": run.transport}


@pytest.mark.anyio
async def test_a_run_delegates_asks_writes_within_the_plan_and_records_its_costs(recorded: dict[str, Any]) -> None:
    result: RunResult = recorded["result"]
    assert result.ok, result.detail
    assert result.turns == 10 and [d.agent for d in result.delegations] == ["review"]
    assert result.delegations[0].report == "Verdict: approve."
    assert result.final_text == "Done: NOTES.md written and reviewed."
    tree = recorded["tree"]
    assert (tree / "NOTES.md").read_text() == "planned\n"
    assert not (tree / "OTHER.md").exists(), "the editor writes only files of the approved plan"
    said = "\n".join(recorded["lines"])
    assert "writes to the checkout, and no plan has been approved in this session" in said, "the server's gate"
    assert "OTHER.md is not a file of the approved plan" in said
    assert "answers file: Pipeline style = Standard" in said and "answers file: plan accept" in said
    assert "## Integration plan: Notes" in said, "the plan is shown to the human, rendered"
    calls = read_trace(Path(result.session_trace)).calls
    assert [c["tool"] for c in calls] == [
        "inspect_checkout",
        "ask_user_question",
        "confirm_plan",
        "check_registration",
    ]
    assert calls[1]["result"]["form"] == "answered" and calls[2]["result"]["plan_status"] == "approved"
    record = json.loads(Path(result.record).read_text())
    assert record["stop_reason"] == "done" and set(record["agents"]) == {"lead", "review"}
    assert record["agents"]["lead"]["requests"] == 8 and record["agents"]["review"]["requests"] == 2
    assert record["cost_usd"] > 0 and record["cost_usd"] == pytest.approx(
        sum(agent["cost_usd"] for agent in record["agents"].values())
    )
    assert "review" in said.split("agent    requests")[-1], "the cost table is printed at the end"


@pytest.mark.anyio
async def test_the_planted_key_went_over_the_wire_and_was_written_nowhere(recorded: dict[str, Any]) -> None:
    headers = recorded["api"].last_headers
    sent = headers.get("x-api-key") or headers.get("authorization", "")
    assert PLANTED_KEY in sent, "the key was really in flight (this SDK sends it as a bearer token)"
    result: RunResult = recorded["result"]
    written = [Path(result.cassette)] + sorted((recorded["tree"] / ".diffusers-integrator").rglob("*"))
    for path in (p for p in written if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        assert PLANTED_KEY not in text and "PLANTEDplanted" not in text, path
    assert "PLANTEDplanted" not in "\n".join(recorded["lines"])
    cassette = Cassette.load(Path(result.cassette))
    for exchange in cassette.exchanges:
        assert set(exchange.request_headers) <= {"anthropic-version", "anthropic-beta", "content-type"}
    text = Path(result.cassette).read_text()
    assert str(recorded["tree"]) not in text and "<checkout>" in text and "<reference>" in text


@pytest.mark.anyio
async def test_the_cassette_replays_to_the_same_end_state(recorded: dict[str, Any], workspace: Path) -> None:
    lines: list[str] = []
    run = options(workspace, workspace.parent, lines, replay=Path(recorded["result"].cassette), transport=None)
    result = await run_agents(run)
    assert result.ok and result.unplayed == 0, result.detail
    assert (workspace / "NOTES.md").read_text() == "planned\n" and not (workspace / "OTHER.md").exists()
    assert [d.agent for d in result.delegations] == ["review"]
    assert result.agents["lead"].cost_usd == pytest.approx(recorded["result"].agents["lead"].cost_usd)


@pytest.mark.anyio
async def test_a_request_that_differs_fails_with_a_readable_diff(recorded: dict[str, Any], workspace: Path) -> None:
    run = options(
        workspace, workspace.parent, [], replay=Path(recorded["result"].cassette), transport=None, prompt="Write it."
    )
    result = await run_agents(run)
    assert result.stop_reason == "mismatch" and not result.ok
    assert "Request #1 (agent lead) differs from the cassette" in result.detail
    assert "-    Write the notes.\n+    Write it." in result.detail
    assert "record the run again" in result.detail
    assert not (workspace / "NOTES.md").exists()


@pytest.mark.anyio
async def test_a_changed_tool_list_shows_in_the_diff(recorded: dict[str, Any], workspace: Path) -> None:
    cassette = Path(recorded["result"].cassette)
    run = options(workspace, workspace.parent, [], replay=cassette, transport=None, server_args=["--read-only"])
    result = await run_agents(run)
    assert result.stop_reason == "mismatch"
    assert "differs in: body.tools (register_lazy_import, scaffold, unregister_lazy_import)" in result.detail
    assert "-body.tools[scaffold].description: |" in result.detail


@pytest.mark.anyio
async def test_a_sub_agent_that_differs_stops_the_lead_too(
    recorded: dict[str, Any], workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    review = ROLES["review"]
    monkeypatch.setitem(ROLES, "review", dataclasses.replace(review, instructions=review.instructions + " Be brief."))
    run = options(workspace, workspace.parent, [], replay=Path(recorded["result"].cassette), transport=None)
    result = await run_agents(run)
    assert result.stop_reason == "mismatch" and "Request #8 (agent review) differs" in result.detail
    assert "differs in: body.system" in result.detail and "Be brief." in result.detail
    assert result.unplayed == 3, "the review's two requests and the lead's last: nothing went out after the mismatch"


@pytest.mark.anyio
async def test_the_turn_limit_stops_before_the_next_request(workspace: Path, tmp_path: Path) -> None:
    run = options(workspace, tmp_path, [], record=tmp_path / "limited.jsonl", max_turns=3)
    result = await run_agents(run)
    assert result.stop_reason == "max_turns" and result.turns == 3
    assert len(lines_of(tmp_path / "limited.jsonl")) == 1 + 3, "no fourth request went out"
    calls = read_trace(Path(result.session_trace)).calls
    assert [c["tool"] for c in calls] == ["inspect_checkout"], "the reply that reached the limit ran no tool"
    assert json.loads(Path(result.record).read_text())["stop_reason"] == "max_turns"


@pytest.mark.anyio
async def test_a_limit_reached_in_a_sub_agent_stops_the_lead_too(workspace: Path, tmp_path: Path) -> None:
    run = options(workspace, tmp_path, [], record=tmp_path / "limited.jsonl", max_turns=8)
    result = await run_agents(run)
    assert result.stop_reason == "max_turns" and result.turns == 8
    exchanges = Cassette.load(tmp_path / "limited.jsonl").exchanges
    assert len(exchanges) == 8 and exchanges[-1].agent == "review", "the lead sent nothing after the limit"
    assert result.delegations[0].stopped and "turn limit" in result.delegations[0].stopped


@pytest.mark.anyio
async def test_the_budget_stops_the_run(workspace: Path, tmp_path: Path) -> None:
    result = await run_agents(options(workspace, tmp_path, [], budget_usd=1e-6))
    assert result.stop_reason == "budget" and result.turns == 1
    assert "budget ($0.00) was spent" in result.detail
