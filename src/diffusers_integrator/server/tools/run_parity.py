"""`run_parity`: a parity spec run in a child process (cpu, cuda or a remote GPU), as a background job."""

from __future__ import annotations

from ...parity.results import ParityReport
from ...parity.run import RunParityRequest as ParityRunRequest
from ...progress import ProgressFn
from ..jobs import DEFAULT_WAIT_S, JobResult, WaitSeconds
from ..session import IntegratorSession
from ..spec import ToolSpec


class RunParityRequest(ParityRunRequest):
    """The parity run, plus how long to wait before handing back a job id."""

    wait_s: WaitSeconds = DEFAULT_WAIT_S


def run_parity(session: IntegratorSession, request: RunParityRequest, progress: ProgressFn) -> JobResult[ParityReport]:
    from ...parity.run import run_parity as run
    from ...parity.run import spec_path

    checkout = session.checkout()
    spec_path(checkout, request.spec)  # refuse a missing or shipped spec now, not from inside the job
    parity_request = ParityRunRequest.model_validate(request.model_dump(exclude={"wait_s"}))
    return session.jobs.run(
        "run_parity",
        lambda report: run(checkout, parity_request, report),
        wait_s=request.wait_s,
        progress=progress,
        result_model=ParityReport,
    )


SPEC = ToolSpec(
    "run_parity",
    "Run a parity spec",
    RunParityRequest,
    JobResult[ParityReport],
    run_parity,
    "session",
    idempotent=False,
    open_world=True,
)
