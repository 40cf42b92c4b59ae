"""`confirm_plan`: the integration plan shown to the human, who accepts, declines or amends it."""

from __future__ import annotations

from ...interact.answers import confirm_plan as settle_plan
from ...interact.forms import HumanReply
from ...interact.plan import ConfirmPlanResult, IntegrationPlan, plan_form
from ...progress import ProgressFn
from ..session import IntegratorSession
from ..spec import ToolSpec


# The tool's request is the plan itself.
ConfirmPlanRequest = IntegrationPlan


def confirm_plan(
    session: IntegratorSession, request: ConfirmPlanRequest, progress: ProgressFn, reply: HumanReply
) -> ConfirmPlanResult:
    return settle_plan(session.approvals, request, reply)


# the form is a pure function of the plan (see server/elicitation.py)
SPEC = ToolSpec.of(confirm_plan, "Get the integration plan approved", "session", idempotent=False, ask=plan_form)
