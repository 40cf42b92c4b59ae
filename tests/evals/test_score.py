"""The trace scorer on traces recorded by real server sessions: one that asks, plans and then writes, one that
writes first, one cut short, and (slow) one with parity runs, including a run finished through job_status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from diffusers_integrator.demo import script
from diffusers_integrator.evals import Expectations, render_scorecard, score_trace, scorecard_markdown
from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions
from diffusers_integrator.testing import tiny_dit_integration as integration
from diffusers_integrator.traces import SessionTrace, read_trace

from ..mcp_helpers import call, call_error


PROCESS = ["questions_before_write", "plan_before_write", "writes_after_approval"]


async def _ask_and_approve(client: Client, scaffolded: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The human's part, through the chat fallback (the test client cannot show forms); the plan lists what
    the scaffold dry run would write, or what a scaffold already wrote."""
    asked = await call(client, "ask_user_question", {"questions": script.QUESTIONS})
    recorded = await call(
        client,
        "record_answer",
        {
            "question_set_id": asked["question_set_id"],
            "answers": script.ANSWERS,
            "human_reply": script.HUMAN_ANSWERS,
        },
    )
    if scaffolded is None:
        scaffolded = await call(client, "scaffold", script.scaffold_arguments(recorded["answers"], dry_run=True))
    plan = await call(client, "confirm_plan", script.plan_arguments(scaffolded, "both", ["text2image"]))
    await call(
        client,
        "record_answer",
        {"plan_id": plan["plan_id"], "verdict": "accept", "human_reply": script.HUMAN_VERDICT},
    )
    return recorded["answers"]


async def _check(client: Client, registered: list[str]) -> None:
    await call(client, "check_registration", {"names": registered})
    await call(client, "make_quality", {"wait_s": 45})


def _trace(server: Any) -> SessionTrace:
    path = server.integrator_session.traces.path
    assert path is not None and path.is_file()
    return read_trace(path)


def _by_id(card: Any) -> dict[str, Any]:
    return {criterion.id: criterion for criterion in card.criteria}


@pytest.mark.anyio
async def test_a_session_that_asks_plans_then_writes_scores_full(workspace: Path) -> None:
    server = build_server(ServerOptions(checkout=workspace))
    async with Client(server, mode="legacy") as client:
        early = await call_error(client, "scaffold", {"model_name": script.MODEL})  # the gate refuses it
        answers = await _ask_and_approve(client)
        done = await call(client, "scaffold", script.scaffold_arguments(answers, dry_run=False))
        await _check(client, done["registered"])

    card = score_trace(_trace(server))
    criteria = _by_id(card)
    assert "no plan has been approved" in early
    assert card.full and (card.passed, card.total) == (5, 5), render_scorecard(card)
    # Reasons name the calls they rest on: the refused write #1, the answers #3, the approval #6, the write #7.
    assert (
        "#3" in criteria["questions_before_write"].reason
        and "#7 scaffold" in criteria["questions_before_write"].reason
    )
    assert "refused 1 early write(s) (#1 scaffold)" in criteria["writes_after_approval"].reason
    assert "5 names consistent" in criteria["registration_consistent"].reason
    assert "| **fail** |" not in scorecard_markdown(card)


@pytest.mark.anyio
async def test_a_write_before_approval_fails_the_process_criteria(workspace: Path) -> None:
    # Without the gate (--no-require-approval), nothing stops an agent from writing first: the score does.
    server = build_server(ServerOptions(checkout=workspace, require_approval=False))
    async with Client(server, mode="legacy") as client:
        done = await call(client, "scaffold", script.scaffold_arguments(script_answers(), dry_run=False))
        await _ask_and_approve(client, scaffolded=done)
        await _check(client, done["registered"])

    card = score_trace(_trace(server))
    criteria = _by_id(card)
    assert [c.id for c in card.criteria if not c.passed] == PROCESS, render_scorecard(card)
    assert not card.full and card.passed == 2
    assert "only after the first write (#1 scaffold)" in criteria["questions_before_write"].reason
    assert "only after the first write (#1 scaffold)" in criteria["plan_before_write"].reason
    assert criteria["writes_after_approval"].reason.startswith("1 write(s) with no approved plan: #1 scaffold")
    assert criteria["writes_after_approval"].evidence == [1]


@pytest.mark.anyio
async def test_a_session_cut_short_fails_what_it_never_checked(workspace: Path) -> None:
    server = build_server(ServerOptions(checkout=workspace))
    async with Client(server, mode="legacy") as client:
        answers = await _ask_and_approve(client)
        done = await call(client, "scaffold", script.scaffold_arguments(answers, dry_run=False))
        await _check(client, done["registered"])
        # A later write makes the earlier checks stale.
        symbol = {
            "name": done["names"]["transformer_block"],
            "module": f"diffusers.models.transformers.{done['names']['transformer_module']}",
        }
        await call(client, "register_lazy_import", {"symbols": [symbol], "dry_run": False})

    trace = _trace(server)
    stale = _by_id(score_trace(trace))
    assert (
        not stale["registration_consistent"].passed
        and "after the last write (#9)" in stale["registration_consistent"].reason
    )
    assert not stale["quality_clean"].passed and "never ran after the last write (#9)" in stale["quality_clean"].reason

    # The same session before its checks: process criteria hold, the checks are missing.
    before_checks = trace.model_copy(update={"calls": [c for c in trace.calls if c["seq"] <= 6]})
    cut = score_trace(before_checks)
    assert [c.id for c in cut.criteria if not c.passed] == ["registration_consistent", "quality_clean"]
    # And before any write: nothing registered, nothing to be inconsistent about, but nothing integrated either.
    no_writes = _by_id(score_trace(trace.model_copy(update={"calls": trace.calls[:5]})))
    assert no_writes["plan_before_write"].passed and "wrote nothing" in no_writes["plan_before_write"].reason
    assert not no_writes["registration_consistent"].passed


def script_answers() -> list[dict[str, Any]]:
    """The answers as record_answer returns them (with headers), without asking: what a careless agent assumes."""
    headers = [question["header"] for question in script.QUESTIONS]
    return [{"header": header, **answer} for header, answer in zip(headers, script.ANSWERS)]


@pytest.mark.slow
@pytest.mark.anyio
async def test_parity_criteria_follow_the_reports_including_a_job(workspace: Path) -> None:
    specs = {script.CLEAN_SPEC: False, script.BUGGY_SPEC: True}
    for spec, bug in specs.items():
        (workspace / spec).parent.mkdir(parents=True, exist_ok=True)
        (workspace / spec).write_text(script.parity_spec(planted_bug=bug))
    server = build_server(ServerOptions(checkout=workspace))
    async with Client(server, mode="legacy") as client:
        answers = await _ask_and_approve(client)
        done = await call(client, "scaffold", script.scaffold_arguments(answers, dry_run=False))
        # The specs build the tree's model through the shipped script: the agent's port and key map go in first.
        for rel, fill in (
            (integration.MODEL_FILE, integration.port_source),
            (integration.CONVERSION_SCRIPT, integration.conversion_source),
        ):
            (workspace / rel).write_text(fill((workspace / rel).read_text()))
        await _check(client, done["registered"])
        await call(client, "run_parity", {"spec": script.CLEAN_SPEC, "device": "cpu", "wait_s": 45})
        # wait_s=0: the report arrives through job_status, and the scorer follows the job back to its spec.
        started = await call(client, "run_parity", {"spec": script.BUGGY_SPEC, "device": "cpu", "wait_s": 0})
        assert started["job"] is not None
        status = {"job": {"state": "running"}}
        for _ in range(6):  # a loaded machine may need more than one wait, as an agent would follow it
            status = await call(client, "job_status", {"job_id": started["job"]["job_id"], "wait_s": 45})
            if status["job"]["state"] != "running":
                break
        assert status["job"]["state"] == "succeeded"

    trace = _trace(server)
    card = score_trace(trace, script.expectations())
    assert card.full and card.total == 7, render_scorecard(card)
    assert "culprit norm_out" in _by_id(card)["bug_localised"].reason

    wrong = Expectations(parity_pass=[script.BUGGY_SPEC], parity_bugs={script.CLEAN_SPEC: ["norm_out"]})
    graded = _by_id(score_trace(trace, wrong))
    assert not graded["parity_passed"].passed and "failed" in graded["parity_passed"].reason
    assert not graded["bug_localised"].passed and "should fail it" in graded["bug_localised"].reason
    elsewhere = Expectations(parity_bugs={script.BUGGY_SPEC: ["transformer_blocks.0"]})
    assert (
        "blamed norm_out, expected transformer_blocks.0"
        in _by_id(score_trace(trace, elsewhere))["bug_localised"].reason
    )
    never = _by_id(score_trace(trace, Expectations(parity_pass=[".diffusers-integrator/specs/other.py"])))
    assert not never["parity_passed"].passed and "never run" in never["parity_passed"].reason
