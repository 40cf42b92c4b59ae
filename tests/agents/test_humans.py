"""The human of a run: the server's real forms (questions, the plan) answered at the terminal or from a file."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest

from diffusers_integrator.agents.humans import Answers, AnswersHuman, TerminalHuman
from diffusers_integrator.interact.plan import IntegrationPlan, plan_form
from diffusers_integrator.interact.questions import Question, questions_form

from .helpers import PLAN, QUESTIONS


def _form(form: Any) -> types.ElicitRequestFormParams:
    """The form as the server sends it: the message and the JSON schema of its model."""
    schema = form.schema.model_json_schema()
    return types.ElicitRequestFormParams(message=form.message, requested_schema=schema)


QUESTION_FORM = _form(questions_form([Question.model_validate(q) for q in QUESTIONS["questions"]]))
PLAN_FORM = _form(plan_form(IntegrationPlan.model_validate(PLAN)))


@pytest.mark.anyio
async def test_an_answers_file_answers_by_header_and_says_what_it_answered() -> None:
    said: list[str] = []
    answers = Answers(questions={"pipeline STYLE": "stand"}, notes={"Pipeline style": "users call it"})
    human = AnswersHuman(answers, said.append)
    result = await human(None, QUESTION_FORM)
    assert result.action == "accept" and result.content == {"q1": "Standard", "q1_note": "users call it"}
    assert "answers file: Pipeline style = Standard" in said and "1. Pipeline style:" in "\n".join(said)


@pytest.mark.anyio
async def test_an_unanswered_question_takes_the_recommended_option_or_cancels() -> None:
    assert (await AnswersHuman(Answers(), print)(None, QUESTION_FORM)).content == {"q1": "Modular"}
    cancelling = AnswersHuman(Answers(unanswered="cancel"), print)
    assert (await cancelling(None, QUESTION_FORM)).action == "cancel"
    wrong = AnswersHuman(Answers(questions={"Pipeline style": "Both"}, unanswered="cancel"), print)
    assert (await wrong(None, QUESTION_FORM)).action == "cancel", "a label that is no option is no answer"


@pytest.mark.anyio
async def test_the_plan_verdict_comes_from_the_file_and_the_plan_is_shown() -> None:
    said: list[str] = []
    human = AnswersHuman(Answers.model_validate({"plan": {"decision": "amend", "note": "Add a VAE."}}), said.append)
    result = await human(None, PLAN_FORM)
    assert result.action == "accept" and result.content == {"decision": "amend", "note": "Add a VAE."}
    assert "## Integration plan: Notes" in "\n".join(said)
    assert (await AnswersHuman(Answers(), print)(None, PLAN_FORM)).action == "cancel", "no verdict, no approval"


@pytest.mark.anyio
async def test_the_terminal_asks_field_by_field_and_insists_on_a_valid_answer() -> None:
    typed = iter(["7", "2", "image-to-image can wait"])
    said: list[str] = []
    human = TerminalHuman(said.append, read=lambda prompt: next(typed))
    result = await human(None, QUESTION_FORM)
    assert result.action == "accept" and result.content == {"q1": "Standard", "q1_note": "image-to-image can wait"}
    shown = "\n".join(said)
    assert "1. Modular (recommended) — Blocks; upstream's default" in shown
    assert "`7` is not one of the options: type its number (1-2)" in shown


@pytest.mark.anyio
async def test_the_terminal_takes_defaults_and_can_refuse_the_form() -> None:
    plan = TerminalHuman(print, read=lambda prompt: "/decline")
    assert (await plan(None, PLAN_FORM)).action == "decline"
    typed = iter(["", ""])
    defaults = TerminalHuman(print, read=lambda prompt: next(typed))
    assert (await defaults(None, QUESTION_FORM)).content == {"q1": "Modular"}
