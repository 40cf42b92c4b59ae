"""The session's write gate: off without --require-approval, shut by --read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffusers_integrator.server.session import ServerOptions


def test_gate_off_without_require_approval(workspace: Path) -> None:
    from diffusers_integrator.server.session import IntegratorSession

    IntegratorSession(ServerOptions(checkout=workspace, require_approval=False)).ensure_may_write("scaffold")
    with pytest.raises(Exception, match="runs with --read-only"):
        IntegratorSession(ServerOptions(checkout=workspace, read_only=True)).ensure_may_write("scaffold")
