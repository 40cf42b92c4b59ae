"""`make_quality`: the checkout's quality gates as structured findings, `fix=true` for what `make style` fixes."""

from __future__ import annotations

from collections.abc import Callable

from ...checkout import Checkout
from ...progress import ProgressFn
from ...quality.models import QualityRequest, QualityResult
from ..jobs import with_wait, without_wait
from ..session import IntegratorSession
from ..spec import ToolSpec


MakeQualityRequest = with_wait(QualityRequest, "MakeQualityRequest")


def make_quality(
    session: IntegratorSession, request: MakeQualityRequest, progress: ProgressFn
) -> Callable[[ProgressFn], QualityResult]:
    if request.fix:
        session.ensure_may_write("make_quality")
    checkout, quality = session.checkout(), without_wait(request, QualityRequest)
    return lambda report: _run(checkout, quality, report)


def _run(checkout: Checkout, request: QualityRequest, progress: ProgressFn) -> QualityResult:
    """In the job's thread; with `fix`, the core holds the writer lock there from the first read to the last check."""
    from ...quality import run_quality

    return run_quality(checkout, request, progress)


# Checking runs ruff and the checkout's own utils/check_*.py and writes only its log under .diffusers-integrator/
# (so --read-only hides it, but it needs no approved plan); fix=true passes the write gate itself.
SPEC = ToolSpec.of(make_quality, "Run the quality gates", "state", destructive=True, background=True)
