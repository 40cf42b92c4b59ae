"""The session's record of questions asked, plans proposed, and the verdicts the human gave.

This is what the approval gate reads. Two rules keep it honest: a question set or plan takes one verdict
(a verdict given in the form closes it, so `record_answer` cannot overwrite what the human chose there), and
only the newest plan can be approved (an older pending plan is superseded when a new one is proposed).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from ..errors import IntegratorError
from .plan import PLAN_RESOURCE, IntegrationPlan, PlanStatus, Verdict
from .questions import Question, QuestionAnswer


Via = Literal["elicitation", "chat"]
Record = TypeVar("Record")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class QuestionSetRecord:
    id: str
    questions: list[Question]
    status: Literal["pending", "answered"] = "pending"
    via: Via | None = None
    answers: list[QuestionAnswer] = field(default_factory=list)
    human_reply: str | None = None


@dataclass
class PlanRecord:
    id: str
    plan: IntegrationPlan
    digest: str
    status: PlanStatus = "awaiting_verdict"
    via: Via | None = None
    verdict: Verdict | None = None
    note: str | None = None
    human_reply: str | None = None
    decided_at: str | None = None


class Approvals:
    """Question sets and plans of one session. Thread-safe: handlers run in worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.question_sets: dict[str, QuestionSetRecord] = {}
        self.plans: dict[str, PlanRecord] = {}
        self.approved: PlanRecord | None = None

    # ------------------------------------------------------------------ questions

    def new_question_set(self, questions: list[Question]) -> QuestionSetRecord:
        with self._lock:
            record = QuestionSetRecord(id=f"questions-{len(self.question_sets) + 1}", questions=list(questions))
            self.question_sets[record.id] = record
            return record

    def question_set(self, set_id: str) -> QuestionSetRecord:
        return _issued(
            self.question_sets, set_id, "question set", "the question_set_id that ask_user_question returned"
        )

    def settle_question_set(
        self, set_id: str, answers: list[QuestionAnswer], *, via: Via, human_reply: str | None = None
    ) -> QuestionSetRecord:
        with self._lock:
            record = self.question_set(set_id)
            if record.status == "answered":
                raise IntegratorError(
                    f"{set_id} was already answered by the human (via {record.via}).",
                    "Use those answers; to ask something new, call ask_user_question again.",
                )
            record.status, record.via, record.answers, record.human_reply = "answered", via, answers, human_reply
            return record

    # ------------------------------------------------------------------ plans

    def new_plan(self, plan: IntegrationPlan) -> PlanRecord:
        """Registers a proposed plan; older plans still awaiting a verdict are superseded."""
        with self._lock:
            for older in self.plans.values():
                if older.status == "awaiting_verdict":
                    older.status = "superseded"
            record = PlanRecord(id=f"plan-{len(self.plans) + 1}", plan=plan, digest=plan.digest())
            self.plans[record.id] = record
            return record

    def plan(self, plan_id: str) -> PlanRecord:
        return _issued(self.plans, plan_id, "plan", "the plan_id that confirm_plan returned")

    def settle_plan(
        self, plan_id: str, verdict: Verdict, *, via: Via, note: str | None, human_reply: str | None
    ) -> PlanRecord:
        """Applies the human's verdict. Only a plan awaiting a verdict takes one."""
        with self._lock:
            record = self.plan(plan_id)
            if record.status == "superseded":
                raise IntegratorError(
                    f"{plan_id} was superseded by a newer plan, so it can no longer be approved.",
                    "Record the verdict on the newest plan_id that confirm_plan returned.",
                )
            if record.status != "awaiting_verdict":
                raise IntegratorError(
                    f"The human already gave a verdict on {plan_id} ({record.verdict}, via {record.via}).",
                    "A plan takes one verdict; to change course, call confirm_plan with a revised plan.",
                )
            record.verdict, record.via, record.note, record.human_reply = verdict, via, note, human_reply
            record.decided_at = _now()
            record.status = {"accept": "approved", "decline": "declined", "amend": "amend_requested"}[verdict]  # type: ignore[assignment]
            if verdict == "accept":
                # A newer approval replaces an older one; a declined revision leaves the older one in force.
                self.approved = record
            return record

    @property
    def may_write(self) -> bool:
        return self.approved is not None

    # ------------------------------------------------------------------ the gate

    def refusal(self, tool: str) -> IntegratorError | None:
        """Why `tool` may not write yet (naming the missing step), or None when a plan is approved."""
        if self.approved is not None:
            return None
        latest = next(reversed(self.plans.values()), None)
        problem = f"`{tool}` writes to the checkout, and no plan has been approved in this session"
        if latest is None:
            return IntegratorError(
                problem + ".",
                "Gather the facts with ask_user_question, then call confirm_plan and get the plan accepted first.",
            )
        if latest.status == "awaiting_verdict":
            return IntegratorError(
                problem + f": {latest.id} is still awaiting the human's verdict.",
                f"Show {latest.id} to the human and get their verdict: call confirm_plan again, or record the "
                f"verdict they gave in chat with record_answer(plan_id={latest.id!r}, ...).",
            )
        said = f" ({latest.note})" if latest.note else ""
        verb = "declined" if latest.status == "declined" else "asked for changes to"
        return IntegratorError(
            problem + f": the human {verb} {latest.id}{said}.",
            "Revise the plan as the human asked, then call confirm_plan again and get it accepted first.",
        )

    def approved_view(self) -> dict[str, object]:
        """The `plan://current` resource: the approved plan, or what is missing."""
        record = self.approved
        if record is None:
            latest = next(reversed(self.plans.values()), None)
            return {
                "approved": False,
                "latest_plan_id": latest.id if latest else None,
                "latest_plan_status": latest.status if latest else None,
                "next_step": "No plan is approved yet: call confirm_plan and get the human's acceptance.",
            }
        return {
            "approved": True,
            "plan_id": record.id,
            "plan_digest": record.digest,
            "via": record.via,
            "note": record.note,
            "human_reply": record.human_reply,
            "decided_at": record.decided_at,
            "plan": record.plan.model_dump(mode="json"),
            "resource": PLAN_RESOURCE,
        }


def _issued(records: dict[str, Record], record_id: str, kind: str, where_from: str) -> Record:
    """The record this session issued under `record_id`, or an error listing the ids it did issue."""
    record = records.get(record_id)
    if record is None:
        known = ", ".join(records) or "none yet"
        raise IntegratorError(f"No {kind} {record_id!r} in this session (known: {known}).", f"Pass {where_from}.")
    return record
