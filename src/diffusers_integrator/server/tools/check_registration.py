"""`check_registration`: every inconsistency between inits, dummies and files on disk, with its fix."""

from __future__ import annotations

from ...progress import ProgressFn
from ...registry import CheckRegistrationRequest, CheckRegistrationResult
from ..session import IntegratorSession
from ..spec import ToolSpec


def check_registration(
    session: IntegratorSession, request: CheckRegistrationRequest, progress: ProgressFn
) -> CheckRegistrationResult:
    from ...registry import check_registration as check

    return check(session.checkout(), request.names, max_findings=request.max_findings)


SPEC = ToolSpec.of(check_registration, "Check registrations", "read")
