"""`inspect_checkout`: what the diffusers checkout is and which upstream helpers it has."""

from __future__ import annotations

from pydantic import BaseModel

from ...checkout.offers import InspectCheckoutResult, survey
from ...progress import ProgressFn
from ..session import IntegratorSession
from ..spec import ToolSpec


class InspectCheckoutRequest(BaseModel):
    """No arguments: the server's own checkout is inspected."""


def inspect_checkout(
    session: IntegratorSession, request: InspectCheckoutRequest, progress: ProgressFn
) -> InspectCheckoutResult:
    return survey(session.checkout())


SPEC = ToolSpec.of(inspect_checkout, "Inspect the diffusers checkout", "read")
