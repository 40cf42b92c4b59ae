"""record_answer through a real MCP client: the human's reply relayed from the chat when no form was shown,
checked against the questions or the plan, and never overwriting a form's answer or a superseded plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.interact.plan import IntegrationPlan
from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ..helpers import MODES, PLAN, QUESTIONS, ScriptedHuman, accept


def _server(workspace: Path):
    return build_server(ServerOptions(checkout=workspace))


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_no_elicitation_falls_back_to_chat_then_record_answer(module_workspace: Path, mode: str) -> None:
    server = _server(module_workspace)
    async with Client(server, mode=mode) as client:  # no elicitation callback: the capability is not declared
        result = await call(client, "ask_user_question", QUESTIONS)
        assert result["form"] == "not_shown" and result["via"] is None
        assert "cannot show questions" in result["next_step"]
        set_id = result["question_set_id"]

        wrong_label = await call_error(
            client,
            "record_answer",
            {
                "question_set_id": set_id,
                "answers": [
                    {"question_id": "q1", "selected": ["Diffusers classic"]},
                    {"question_id": "q2", "selected": ["text-to-video"]},
                ],
                "human_reply": "classic please, t2v",
            },
        )
        assert "has no option 'Diffusers classic'" in wrong_label
        missing = await call_error(
            client,
            "record_answer",
            {
                "question_set_id": set_id,
                "answers": [{"question_id": "q1", "selected": ["Modular"]}],
                "human_reply": "modular",
            },
        )
        assert "missing: q2" in missing

        recorded = await call(
            client,
            "record_answer",
            {
                "question_set_id": set_id,
                "answers": [
                    {"question_id": "q1", "selected": ["modular"]},
                    {"question_id": "q2", "selected": ["text-to-video", "video-to-video"], "note": "v2v later"},
                ],
                "human_reply": "Modular. t2v and v2v, v2v later.",
            },
        )
        assert recorded["kind"] == "answers" and recorded["may_write"] is False
        assert recorded["answers"] == [
            {"question_id": "q1", "header": "Pipeline style", "selected": ["Modular"], "note": None},
            {
                "question_id": "q2",
                "header": "Workflows",
                "selected": ["text-to-video", "video-to-video"],
                "note": "v2v later",
            },
        ]
        again = await call_error(
            client,
            "record_answer",
            {
                "question_set_id": set_id,
                "answers": [{"question_id": "q1", "selected": ["Standard"]}, {"question_id": "q2", "note": "none"}],
                "human_reply": "changed my mind",
            },
        )
        assert "already answered" in again
    record = server.integrator_session.approvals.question_set(set_id)
    assert record.via == "chat" and record.human_reply == "Modular. t2v and v2v, v2v later."


@pytest.mark.anyio
async def test_record_answer_cannot_overwrite_a_form_answer(module_workspace: Path) -> None:
    human = ScriptedHuman([accept(q1="Both", q2=["image-to-video"])])
    async with Client(_server(module_workspace), mode="auto", elicitation_callback=human) as client:
        result = await call(client, "ask_user_question", QUESTIONS)
        error = await call_error(
            client,
            "record_answer",
            {
                "question_set_id": result["question_set_id"],
                "answers": [
                    {"question_id": "q1", "selected": ["Modular"]},
                    {"question_id": "q2", "selected": ["text-to-video"]},
                ],
                "human_reply": "modular",
            },
        )
    assert "already answered by the human (via elicitation)" in error


@pytest.mark.anyio
async def test_only_the_newest_plan_can_be_approved(module_workspace: Path) -> None:
    server = build_server(ServerOptions(checkout=module_workspace))
    async with Client(server, mode="auto") as client:
        first = await call(client, "confirm_plan", PLAN)
        second = await call(client, "confirm_plan", PLAN | {"pipeline_style": "both"})
        older, newer = first["plan_id"], second["plan_id"]
        assert older != newer and first["plan_digest"] != second["plan_digest"]
        stale = await call_error(
            client, "record_answer", {"plan_id": older, "verdict": "accept", "human_reply": "yes"}
        )
        assert f"{older} was superseded by a newer plan" in stale
        unknown = await call_error(
            client, "record_answer", {"plan_id": "plan-9", "verdict": "accept", "human_reply": "yes"}
        )
        assert f"No plan 'plan-9' in this session (known: {older}, {newer})" in unknown
        both = await call_error(
            client,
            "record_answer",
            {"plan_id": newer, "question_set_id": "questions-1", "verdict": "accept", "human_reply": "yes"},
        )
        assert "pass either question_set_id" in both
        await call(
            client,
            "record_answer",
            {"plan_id": newer, "plan_digest": second["plan_digest"], "verdict": "accept", "human_reply": "yes"},
        )
    assert server.integrator_session.approved_plan.plan.pipeline_style == "both"


@pytest.mark.anyio
async def test_a_chat_verdict_is_bound_to_the_digest_of_the_plan_the_human_saw(module_workspace: Path) -> None:
    """Issue 15 #5: a verdict relayed in chat names the digest of the plan shown; another digest is refused."""
    server = build_server(ServerOptions(checkout=module_workspace))
    async with Client(server, mode="legacy") as client:
        shown = await call(client, "confirm_plan", PLAN)
        other = IntegrationPlan.model_validate(PLAN | {"pipeline_style": "both"}).digest()
        wrong = await call_error(
            client,
            "record_answer",
            {"plan_id": shown["plan_id"], "plan_digest": other, "verdict": "accept", "human_reply": "yes"},
        )
        assert f"is not the digest of {shown['plan_id']} ({shown['plan_digest']})" in wrong
        assert "Pass the plan_digest confirm_plan returned" in wrong
        assert (await call_error(client, "scaffold", {"model_name": "Foo"})).count("no plan has been approved") == 1
        right = await call(
            client,
            "record_answer",
            {
                "plan_id": shown["plan_id"],
                "plan_digest": shown["plan_digest"],
                "verdict": "accept",
                "human_reply": "yes",
            },
        )
    assert right["may_write"] is True and right["plan_digest"] == shown["plan_digest"]
