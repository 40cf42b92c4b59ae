"""One client's record of questions asked, plans proposed, and the verdicts the human gave.

This is what the approval gate reads. The rules that keep it honest: a question set or plan takes one verdict
(a verdict given in the form closes it, so `record_answer` cannot overwrite what the human chose there); only
the newest plan can be approved (an older pending plan is superseded when a new one is proposed); the newest
verdict governs (declining or amending a newer plan revokes an older approval until a plan is accepted again);
a verdict relayed in chat can be bound to the digest of the plan the human saw; and ids are random, so no
client can name a plan or question set it was not given.
"""

from __future__ import annotations

import datetime as dt
import secrets
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
        # The plan in force: the newest verdict's plan when that verdict was `accept`, else None.
        self.approved: PlanRecord | None = None
        # The plan whose verdict came last, and the approval that verdict revoked (for the gate's message).
        self.last_decided: PlanRecord | None = None
        self.revoked: PlanRecord | None = None

    # ------------------------------------------------------------------ questions

    def new_question_set(self, questions: list[Question]) -> QuestionSetRecord:
        with self._lock:
            record = QuestionSetRecord(id=f"questions-{secrets.token_hex(6)}", questions=list(questions))
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
            record = PlanRecord(id=f"plan-{secrets.token_hex(6)}", plan=plan, digest=plan.digest())
            self.plans[record.id] = record
            return record

    def plan(self, plan_id: str) -> PlanRecord:
        return _issued(self.plans, plan_id, "plan", "the plan_id that confirm_plan returned")

    def settle_plan(
        self,
        plan_id: str,
        verdict: Verdict,
        *,
        via: Via,
        note: str | None,
        human_reply: str | None,
        digest: str | None = None,
    ) -> PlanRecord:
        """Applies the human's verdict. Only a plan awaiting a verdict takes one; `digest`, when given, must be
        the digest of that plan (the one the human saw)."""
        with self._lock:
            record = self.plan(plan_id)
            if digest is not None and digest != record.digest:
                raise IntegratorError(
                    f"plan_digest {digest[:40]!r} is not the digest of {plan_id} ({record.digest}): the verdict must "
                    "be about exactly the plan the human saw.",
                    f"Pass the plan_digest confirm_plan returned with {plan_id}; if the plan changed, call "
                    "confirm_plan with it and show the new plan_markdown to the human first.",
                )
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
            # The newest verdict governs: accepting puts this plan in force; declining or amending it revokes
            # whatever was approved before, until a plan is accepted again.
            self.revoked = self.approved if verdict != "accept" else None
            self.approved = record if verdict == "accept" else None
            self.last_decided = record
            return record

    @property
    def may_write(self) -> bool:
        return self.approved is not None

    def in_force_while(self, pending: PlanRecord) -> PlanRecord | None:
        """The approved plan that stays in force while `pending` awaits its verdict (None if none)."""
        return self.approved if self.approved is not None and self.approved is not pending else None

    # ------------------------------------------------------------------ the gate

    def refusal(self, tool: str, action: str = "writes to the checkout") -> IntegratorError | None:
        """Why `tool` may not run yet (naming the missing step), or None when a plan is in force."""
        if self.approved is not None:
            return None
        latest = next(reversed(self.plans.values()), None)
        ever = any(plan.status == "approved" for plan in self.plans.values())
        state = "no plan is approved any more" if ever else "no plan has been approved"
        problem = f"`{tool}` {action}, and {state} in this session"
        if latest is None:
            return IntegratorError(
                problem + ".",
                "Gather the facts with ask_user_question, then call confirm_plan and get the plan accepted first.",
            )
        decided = self.last_decided
        said = f" ({decided.note})" if decided is not None and decided.note else ""
        verb = "declined" if decided is not None and decided.status == "declined" else "asked for changes to"
        revoked = (
            f"; that newest verdict revoked the approval of {self.revoked.id}" if self.revoked is not None else ""
        )
        if latest.status == "awaiting_verdict":
            earlier = f" (the human {verb} {decided.id}{said}{revoked})" if decided is not None else ""
            return IntegratorError(
                problem + f": {latest.id} is still awaiting the human's verdict{earlier}.",
                f"Show {latest.id} to the human and get their verdict: call confirm_plan again, or record the "
                f"verdict they gave in chat with record_answer(plan_id={latest.id!r}, plan_digest={latest.digest!r}, "
                "...).",
            )
        assert decided is not None  # a plan that is not awaiting a verdict has one (superseded plans never last)
        return IntegratorError(
            problem + f": the human {verb} {decided.id}{said}{revoked}.",
            "Revise the plan as the human asked, then call confirm_plan again and get it accepted first.",
        )

    def approved_view(self) -> dict[str, object]:
        """The `plan://current` resource: the approved plan, or what is missing."""
        record = self.approved
        if record is None:
            latest = next(reversed(self.plans.values()), None)
            refusal = self.refusal("a write tool")
            return {
                "approved": False,
                "latest_plan_id": latest.id if latest else None,
                "latest_plan_status": latest.status if latest else None,
                "revoked_plan_id": self.revoked.id if self.revoked else None,
                "next_step": refusal.fix if refusal else "",
                "why": refusal.problem if refusal else "",
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
