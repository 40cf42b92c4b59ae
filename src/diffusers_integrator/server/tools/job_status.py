"""`job_status`: state, progress and (once done) the result of a background job."""

from __future__ import annotations

from ...progress import ProgressFn
from ..jobs import JobStatusRequest, JobStatusResult
from ..session import IntegratorSession
from ..spec import ToolSpec


def job_status(session: IntegratorSession, request: JobStatusRequest, progress: ProgressFn) -> JobStatusResult:
    return session.jobs.status(request.job_id, request.wait_s, progress)


SPEC = ToolSpec.of(job_status, "Background job status", "read")
