"""`ask_user_question`: 1–4 structured questions, shown as a form when the client can, else asked in chat."""

from __future__ import annotations

from ...interact.answers import ask_user_question as record_questions
from ...interact.forms import HumanForm, HumanReply
from ...interact.questions import AskUserQuestionRequest, AskUserQuestionResult, questions_form
from ...progress import ProgressFn
from ..session import IntegratorSession
from ..spec import ToolSpec


def ask(request: AskUserQuestionRequest) -> HumanForm:
    """The form shown before the handler runs: a pure function of the questions (see server/elicitation.py)."""
    return questions_form(request.questions)


def ask_user_question(
    session: IntegratorSession, request: AskUserQuestionRequest, progress: ProgressFn, reply: HumanReply
) -> AskUserQuestionResult:
    return record_questions(session.approvals, request, reply)


SPEC = ToolSpec.of(ask_user_question, "Ask the human structured questions", "read", idempotent=False, ask=ask)
