"""`scaffold`: every file of a new integration in diffusers' conventions, registered."""

from __future__ import annotations

from ...progress import ProgressFn
from ...scaffold.schema import ScaffoldRequest, ScaffoldResult
from ..session import IntegratorSession
from ..spec import ToolSpec


def scaffold(session: IntegratorSession, request: ScaffoldRequest, progress: ProgressFn) -> ScaffoldResult:
    from ...scaffold import compact_result
    from ...scaffold import scaffold as lay_down

    checkout = session.checkout()
    # The core holds the checkout's writer lock from the first read to the last write.
    return compact_result(checkout, lay_down(checkout, request, progress))


SPEC = ToolSpec.of(scaffold, "Scaffold a new integration", "write")
