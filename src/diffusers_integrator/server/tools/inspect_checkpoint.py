"""`inspect_checkpoint`: the keys, shapes and dtypes of a weights file, folded into patterns."""

from __future__ import annotations

from ...parity.weights import InspectCheckpointRequest, InspectCheckpointResult
from ...progress import ProgressFn
from ..session import IntegratorSession
from ..spec import ToolSpec


def inspect_checkpoint(
    session: IntegratorSession, request: InspectCheckpointRequest, progress: ProgressFn
) -> InspectCheckpointResult:
    from ...parity.weights import inspect_checkpoint as summarize

    return summarize(session.checkout(), request)


SPEC = ToolSpec.of(inspect_checkpoint, "Inspect a checkpoint file", "read")
