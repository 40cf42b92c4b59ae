"""`scaffold`: every file of a new integration in diffusers' conventions, registered."""

from __future__ import annotations

import contextlib

from ...progress import ProgressFn
from ...scaffold.schema import ScaffoldRequest, ScaffoldResult
from ..session import IntegratorSession
from ..spec import ToolSpec


def scaffold(session: IntegratorSession, request: ScaffoldRequest, progress: ProgressFn) -> ScaffoldResult:
    from ...scaffold import compact_result
    from ...scaffold import scaffold as lay_down

    checkout = session.checkout()
    # Reading the tree, planning every file and registration, and writing them is one step under the writer lock:
    # two scaffolds at once must not both edit the inits as they were before either wrote.
    with contextlib.nullcontext() if request.dry_run else checkout.writing():
        return compact_result(checkout, lay_down(checkout, request, progress))


SPEC = ToolSpec.of(scaffold, "Scaffold a new integration", "write")
