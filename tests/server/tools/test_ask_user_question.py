"""ask_user_question through a real MCP client, on both protocol generations."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ..helpers import MODES, PROTOCOL, QUESTIONS, ScriptedHuman, accept, cancel, decline


def _server(workspace: Path):
    return build_server(ServerOptions(checkout=workspace))


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_accept_single_and_multi_select(module_workspace: Path, mode: str) -> None:
    human = ScriptedHuman([accept(q1="Standard", q2=["text-to-video", "image-to-video"], q2_note="t2v first")])
    server = _server(module_workspace)
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        assert client.protocol_version == PROTOCOL[mode]
        result = await call(client, "ask_user_question", QUESTIONS)

    assert result["form"] == "answered" and result["via"] == "elicitation"
    assert result["answers"] == [
        {"question_id": "q1", "header": "Pipeline style", "selected": ["Standard"], "note": None},
        {
            "question_id": "q2",
            "header": "Workflows",
            "selected": ["text-to-video", "image-to-video"],
            "note": "t2v first",
        },
    ]
    assert result["ask_in_chat"] == []
    # The form was built from these questions: one choice per question, titled options, the recommended default.
    (form,) = human.forms
    assert "Pipeline style: Should the integration be a modular pipeline" in form.message
    schema = form.requested_schema
    assert list(schema["properties"]) == ["q1", "q1_note", "q2", "q2_note"]
    assert schema["required"] == ["q1", "q2"]
    style = schema["properties"]["q1"]
    assert style["type"] == "string" and style["title"] == "Pipeline style" and style["default"] == "Modular"
    assert style["oneOf"][0] == {
        "const": "Modular",
        "title": "Modular (recommended) — Blocks that compose; the new default.",
    }
    workflows = schema["properties"]["q2"]
    assert workflows["type"] == "array" and workflows["minItems"] == 1 and workflows["maxItems"] == 3
    assert [item["const"] for item in workflows["items"]["anyOf"]] == [
        "text-to-video",
        "image-to-video",
        "video-to-video",
    ]
    record = server.integrator_session.approvals.question_set(result["question_set_id"])
    assert record.status == "answered" and record.via == "elicitation"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("reply", "outcome"), [(decline, "declined"), (cancel, "cancelled")], ids=["decline", "cancel"]
)
async def test_form_closed_without_answers_asks_in_chat(
    module_workspace: Path, mode: str, reply, outcome: str
) -> None:
    human = ScriptedHuman([reply()])
    async with Client(_server(module_workspace), mode=mode, elicitation_callback=human) as client:
        result = await call(client, "ask_user_question", QUESTIONS)
    assert len(human.forms) == 1
    assert result["form"] == outcome and result["answers"] == []
    assert [q["question_id"] for q in result["ask_in_chat"]] == ["q1", "q2"]
    assert result["ask_in_chat"][0]["options"][0] == {
        "label": "Modular",
        "description": "Blocks that compose; the new default.",
        "recommended": True,
    }
    assert "Do not guess" in result["next_step"] and "record_answer" in result["next_step"]


@pytest.mark.anyio
async def test_invalid_questions_are_refused_before_asking(module_workspace: Path) -> None:
    human = ScriptedHuman([])
    bad = {
        "questions": [
            {
                "header": "X",
                "question": "?",
                "options": [{"label": "a", "recommended": True}, {"label": "b", "recommended": True}],
            }
        ]
    }
    async with Client(_server(module_workspace), mode="auto", elicitation_callback=human) as client:
        error = await call_error(client, "ask_user_question", bad)
        too_few = await call_error(
            client, "ask_user_question", {"questions": [{"header": "X", "question": "?", "options": [{"label": "a"}]}]}
        )
    assert "more than one option as recommended" in error
    assert "at least 2 items" in too_few
    assert human.forms == []
