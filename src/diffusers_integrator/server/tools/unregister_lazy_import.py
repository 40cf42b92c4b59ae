"""`unregister_lazy_import`: public names removed from every init and dummy file (the inverse of registering)."""

from __future__ import annotations

from ...progress import ProgressFn
from ...registry import RegistrationResult, UnregisterLazyImportRequest
from ..session import IntegratorSession
from ..spec import ToolSpec
from ._diffs import capped


def unregister_lazy_import(
    session: IntegratorSession, request: UnregisterLazyImportRequest, progress: ProgressFn
) -> RegistrationResult:
    from ...registry import unregister_names

    return capped(unregister_names(session.checkout(), request.names, dry_run=request.dry_run))


SPEC = ToolSpec.of(unregister_lazy_import, "Unregister public names", "write", destructive=True)
