"""`confirm_plan`: the integration plan shown to the human, who accepts, declines or amends it."""

from __future__ import annotations

from ...interact.answers import confirm_plan as settle_plan
from ...interact.forms import HumanForm, HumanReply
from ...interact.plan import ConfirmPlanResult, IntegrationPlan, plan_form
from ...progress import ProgressFn
from ..session import IntegratorSession
from ..spec import ToolSpec


# The tool's request is the plan itself.
ConfirmPlanRequest = IntegrationPlan


def ask(request: ConfirmPlanRequest) -> HumanForm:
    """The form shown before the handler runs: a pure function of the plan (see server/elicitation.py)."""
    return plan_form(request)


def confirm_plan(
    session: IntegratorSession, request: ConfirmPlanRequest, progress: ProgressFn, reply: HumanReply
) -> ConfirmPlanResult:
    return settle_plan(session.approvals, request, reply)


SPEC = ToolSpec(
    "confirm_plan",
    "Get the integration plan approved",
    ConfirmPlanRequest,
    ConfirmPlanResult,
    confirm_plan,
    "session",
    idempotent=False,
    ask=ask,
)
