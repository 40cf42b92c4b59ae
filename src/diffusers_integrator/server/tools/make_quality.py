"""`make_quality`: the checkout's quality gates as structured findings, `fix=true` for what `make style` fixes."""

from __future__ import annotations

from ...progress import ProgressFn
from ...quality.models import QualityRequest, QualityResult
from ..jobs import DEFAULT_WAIT_S, JobResult, WaitSeconds
from ..session import IntegratorSession
from ..spec import ToolSpec


class MakeQualityRequest(QualityRequest):
    """The quality request, plus how long to wait before handing back a job id."""

    wait_s: WaitSeconds = DEFAULT_WAIT_S


def make_quality(
    session: IntegratorSession, request: MakeQualityRequest, progress: ProgressFn
) -> JobResult[QualityResult]:
    from ...quality import run_quality

    if request.fix:
        session.ensure_may_write("make_quality")
    checkout = session.checkout()
    quality_request = QualityRequest.model_validate(request.model_dump(exclude={"wait_s"}))
    return session.jobs.run(
        "make_quality",
        lambda report: run_quality(checkout, quality_request, report),
        wait_s=request.wait_s,
        progress=progress,
        result_model=QualityResult,
    )


SPEC = ToolSpec(
    "make_quality",
    "Run the quality gates",
    MakeQualityRequest,
    JobResult[QualityResult],
    make_quality,
    # Checking writes only its log under .diffusers-integrator/; fix=true passes the write gate itself.
    "session",
    destructive=True,
)
