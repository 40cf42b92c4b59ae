"""`register_lazy_import`: public names registered in every init that needs them, and their dummies."""

from __future__ import annotations

from ...progress import ProgressFn
from ...registry import RegisterLazyImportRequest, RegistrationResult
from ..session import IntegratorSession
from ..spec import ToolSpec
from ._diffs import capped


def register_lazy_import(
    session: IntegratorSession, request: RegisterLazyImportRequest, progress: ProgressFn
) -> RegistrationResult:
    from ...registry import register_names

    result = register_names(session.checkout(), request.symbols, request.backends, dry_run=request.dry_run)
    return capped(result)


SPEC = ToolSpec.of(register_lazy_import, "Register public names", "write")
