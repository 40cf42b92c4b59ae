"""`run_parity`: a parity spec run in a child process (cpu, cuda or a remote GPU), as a background job."""

from __future__ import annotations

from collections.abc import Callable

from ...parity.results import ParityReport
from ...parity.run import RunParityRequest as ParityRunRequest
from ...progress import ProgressFn
from ..jobs import with_wait, without_wait
from ..session import IntegratorSession
from ..spec import ToolSpec


RunParityRequest = with_wait(ParityRunRequest, "RunParityRequest")


def run_parity(
    session: IntegratorSession, request: RunParityRequest, progress: ProgressFn
) -> Callable[[ProgressFn], ParityReport]:
    from ...parity.run import run_parity, spec_path

    checkout = session.checkout()
    spec_path(checkout, request.spec)  # refuse a missing or shipped spec now, not from inside the job
    parity = without_wait(request, ParityRunRequest)
    return lambda report: run_parity(checkout, parity, report)


# Runs the spec, code the agent wrote: hidden under --read-only, and it passes the approval gate like a write.
SPEC = ToolSpec.of(run_parity, "Run a parity spec", "execute", idempotent=False, open_world=True, background=True)
