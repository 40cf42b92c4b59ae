"""The human's replies applied to the session's approvals: from a form (`ask_user_question`, `confirm_plan`) or
given in chat when a form could not be shown or was dismissed (`record_answer`).

What keeps it honest: it only answers what this session asked (a question set or plan id the server issued
and that is still open), selections must be the options that were offered, and the human's reply is quoted
verbatim into the trace, marked `via: chat`, so a reviewer or an eval can tell it from a form answer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ..errors import IntegratorError
from .approvals import Approvals, PlanRecord
from .forms import HumanReply
from .plan import ConfirmPlanResult, IntegrationPlan, PlanStatus, Verdict, verdict_next_step
from .questions import (
    MAX_NOTE,
    AskUserQuestionRequest,
    AskUserQuestionResult,
    FormOutcome,
    QuestionAnswer,
    answers_from_form,
    pending_questions,
    question_id,
)


class ChatAnswer(BaseModel):
    """The human's answer to one question, as they gave it in chat."""

    question_id: str = Field(description="`q1`…`q4`, from the `ask_in_chat` list of ask_user_question.")
    selected: list[str] = Field(
        default_factory=list, description="Labels of the options the human chose (exactly as offered)."
    )
    note: str | None = Field(
        default=None, max_length=MAX_NOTE, description="What the human said beyond the options (or instead of them)."
    )


class RecordAnswerRequest(BaseModel):
    """Arguments of `record_answer`: either answers to a question set, or a verdict on a plan."""

    question_set_id: str | None = Field(
        default=None, max_length=100, description="The question set the answers belong to."
    )
    answers: list[ChatAnswer] = Field(default_factory=list, description="One answer per question of that set.")
    plan_id: str | None = Field(default=None, max_length=100, description="The plan the verdict is about.")
    plan_digest: str | None = Field(
        default=None,
        max_length=100,
        description="The plan_digest confirm_plan returned with that plan_id: binds the verdict to exactly the plan "
        "the human saw (a mismatch is refused). Always pass it with a verdict.",
    )
    verdict: Verdict | None = Field(default=None, description="The human's verdict on that plan.")
    note: str | None = Field(
        default=None, max_length=MAX_NOTE, description="The human's note: what to change, or why."
    )
    human_reply: str = Field(
        min_length=1,
        max_length=MAX_NOTE,
        description="The human's reply in chat, quoted verbatim (it goes into the session trace as evidence).",
    )

    @model_validator(mode="after")
    def _one_subject(self) -> RecordAnswerRequest:
        if (self.question_set_id is None) == (self.plan_id is None):
            raise ValueError("pass either question_set_id (with answers) or plan_id (with verdict), not both")
        if self.question_set_id is not None and (not self.answers or self.verdict is not None):
            raise ValueError("answers to a question set need `answers` (one per question) and no `verdict`")
        if self.plan_id is not None and (self.verdict is None or self.answers):
            raise ValueError("a plan needs a `verdict` (accept, decline or amend) and no `answers`")
        if self.question_set_id is not None and self.plan_digest is not None:
            raise ValueError("plan_digest belongs to a plan verdict, not to answers of a question set")
        if self.verdict == "amend" and not (self.note or "").strip():
            raise ValueError("an `amend` verdict needs the human's note saying what to change")
        return self


class RecordAnswerResult(BaseModel):
    """What `record_answer` returns."""

    kind: Literal["answers", "verdict"]
    question_set_id: str | None = None
    answers: list[QuestionAnswer] = Field(default_factory=list)
    plan_id: str | None = None
    plan_digest: str | None = None
    verdict: Verdict | None = None
    note: str | None = None
    plan_status: PlanStatus | None = None
    may_write: bool
    next_step: str

    def trace_interaction(self) -> dict[str, Any]:
        if self.kind == "answers":
            return {
                "kind": "answers",
                "question_set_id": self.question_set_id,
                "via": "chat",
                "answers": [answer.model_dump(mode="json") for answer in self.answers],
            }
        return {
            "kind": "approval",
            "plan_id": self.plan_id,
            "plan_digest": self.plan_digest,
            "via": "chat",
            "verdict": self.verdict,
            "note": self.note,
            "plan_status": self.plan_status,
        }


def record_answer(approvals: Approvals, request: RecordAnswerRequest) -> RecordAnswerResult:
    """Applies an answer or verdict the human gave in chat to the session's approvals."""
    if request.plan_id is not None:
        assert request.verdict is not None  # the input model's validator guarantees it
        note = (request.note or "").strip() or None
        revoking = approvals.approved
        record = approvals.settle_plan(
            request.plan_id,
            request.verdict,
            via="chat",
            note=note,
            human_reply=request.human_reply,
            digest=request.plan_digest,
        )
        return RecordAnswerResult(
            kind="verdict",
            plan_id=record.id,
            plan_digest=record.digest,
            verdict=request.verdict,
            note=note,
            plan_status=record.status,
            may_write=approvals.may_write,
            next_step=verdict_next_step(record.id, request.verdict, note, revoked=_revoked(revoking, record)),
        )
    assert request.question_set_id is not None
    record = approvals.question_set(request.question_set_id)
    answers = _check_answers(record.id, record.questions, request.answers)
    approvals.settle_question_set(record.id, answers, via="chat", human_reply=request.human_reply)
    return RecordAnswerResult(
        kind="answers",
        question_set_id=record.id,
        answers=answers,
        may_write=approvals.may_write,
        next_step="Recorded. Act on these answers; do not ask the same questions again.",
    )


def _check_answers(set_id: str, questions: list, given: list[ChatAnswer]) -> list[QuestionAnswer]:
    """One answer per question, using only offered labels (mapped to their exact spelling)."""
    by_id = {question_id(index): question for index, question in enumerate(questions)}
    seen = [answer.question_id for answer in given]
    unknown = sorted(set(seen) - set(by_id))
    missing = [qid for qid in by_id if qid not in seen]
    if unknown or missing or len(seen) != len(set(seen)):
        raise IntegratorError(
            f"The answers to {set_id} must cover its questions {', '.join(by_id)} once each "
            f"(unknown: {', '.join(unknown) or 'none'}; missing: {', '.join(missing) or 'none'}).",
            "Pass one entry per question_id from ask_in_chat; if the human skipped one, ask them again.",
        )
    answers = []
    for qid, question in by_id.items():
        answer = next(a for a in given if a.question_id == qid)
        selected = []
        for label in answer.selected:
            option = question.option(label)
            if option is None:
                offered = ", ".join(repr(o.label) for o in question.options)
                raise IntegratorError(
                    f"{qid} ({question.header}) has no option {label!r}; offered: {offered}.",
                    "Use the labels exactly as offered; put anything else the human said in `note`.",
                )
            selected.append(option.label)
        note = (answer.note or "").strip() or None
        if not selected and note is None:
            raise IntegratorError(
                f"The answer to {qid} ({question.header}) has no selection and no note.",
                "Record what the human chose, or their own words in `note`.",
            )
        if len(selected) > 1 and not question.multi_select:
            raise IntegratorError(
                f"{qid} ({question.header}) takes one option, and {len(selected)} were given.",
                "Ask the human to pick one, or record the rest of what they said in `note`.",
            )
        answers.append(QuestionAnswer(question_id=qid, header=question.header, selected=selected, note=note))
    return answers


# ---------------------------------------------------------------------------------------------- from a form


def ask_user_question(
    approvals: Approvals, request: AskUserQuestionRequest, reply: HumanReply
) -> AskUserQuestionResult:
    """Records the question set, and its answers when the human gave them in the form."""
    record = approvals.new_question_set(request.questions)
    if reply.action == "accept" and reply.data is not None:
        answers = answers_from_form(request.questions, reply.data)
        approvals.settle_question_set(record.id, answers, via="elicitation")
        return AskUserQuestionResult(
            question_set_id=record.id,
            form="answered",
            via="elicitation",
            answers=answers,
            next_step="Act on these answers. Do not ask the same questions again.",
        )
    outcome, why = _unanswered(
        reply,
        not_shown="This client cannot show questions to the human (no form elicitation).",
        declined="The form was declined: either the human chose not to answer, or the client declined it without "
        "showing it (some clients do).",
        cancelled="The human closed the form without answering.",
    )
    return AskUserQuestionResult(
        question_set_id=record.id,
        form=outcome,
        via="elicitation" if outcome != "not_shown" else None,
        ask_in_chat=pending_questions(request.questions),
        next_step=(
            f"{why} Do not guess the answers. Ask the human these questions yourself in the chat (show each "
            "option with its description and the recommended one), wait for their reply, then call "
            f"record_answer(question_set_id={record.id!r}, answers=[...], human_reply=<their words, verbatim>). "
            "If the human does not want to answer, stop and ask how to proceed."
        ),
    )


def confirm_plan(approvals: Approvals, request: IntegrationPlan, reply: HumanReply) -> ConfirmPlanResult:
    """Registers the plan and applies the human's verdict from the form, if there is one."""
    record = approvals.new_plan(request)
    base = {"plan_id": record.id, "plan_digest": record.digest}
    if reply.action == "accept" and reply.data is not None:
        verdict: Verdict = reply.data.decision  # type: ignore[attr-defined]
        note = (reply.data.note or "").strip() or None  # type: ignore[attr-defined]
        revoking = approvals.approved
        record = approvals.settle_plan(record.id, verdict, via="elicitation", note=note, human_reply=None)
        return ConfirmPlanResult(
            **base,
            form="answered",
            via="elicitation",
            verdict=verdict,
            note=note,
            plan_status=record.status,
            may_write=approvals.may_write,
            next_step=verdict_next_step(record.id, verdict, note, revoked=_revoked(revoking, record)),
        )
    outcome, why = _unanswered(
        reply,
        not_shown="This client cannot show the plan to the human as a form (no form elicitation).",
        declined="The form was declined without a verdict: either the human dismissed it, or the client declined "
        "it without showing it (some clients do).",
        cancelled="The human closed the form without a verdict.",
    )
    return ConfirmPlanResult(
        **base,
        form=outcome,
        via="elicitation" if outcome != "not_shown" else None,
        plan_status=record.status,
        may_write=approvals.may_write,
        plan_markdown=record.plan.markdown(record.id, record.digest),
        next_step=(
            f"{why} {_standing(approvals.in_force_while(record), record.id)} Show `plan_markdown` to the human in "
            "the chat, verbatim, and ask them to accept, decline or amend it. Then call "
            f"record_answer(plan_id={record.id!r}, plan_digest={record.digest!r}, verdict=..., note=..., "
            "human_reply=<their words, verbatim>). Never record a verdict the human did not give."
        ),
    )


def _revoked(before: PlanRecord | None, decided: PlanRecord) -> str | None:
    """The id of the approval a decline or amendment of `decided` just revoked, if any."""
    return before.id if before is not None and before is not decided and decided.status != "approved" else None


def _standing(in_force: PlanRecord | None, pending_id: str) -> str:
    """What the gate allows while `pending_id` awaits its verdict (the same thing `may_write` says)."""
    if in_force is None:
        return f"Nothing is approved: write tools stay locked until the human accepts {pending_id}."
    return (
        f"{in_force.id}, approved earlier, stays in force until the human gives a verdict on {pending_id}; "
        f"declining or amending {pending_id} revokes it."
    )


def _unanswered(reply: HumanReply, *, not_shown: str, declined: str, cancelled: str) -> tuple[FormOutcome, str]:
    """What became of a form that brought no answer, and the sentence that tells the agent why."""
    outcome: FormOutcome = {"decline": "declined", "cancel": "cancelled"}.get(reply.action, "not_shown")  # type: ignore[assignment]
    return outcome, {"not_shown": not_shown, "declined": declined, "cancelled": cancelled}[outcome]
