"""unregister_lazy_import through a real MCP client: it undoes register_lazy_import to the original bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call
from ...registry.helpers import FOO, _add_model


@pytest.mark.anyio
async def test_register_check_and_unregister_round_trip_to_the_original_bytes(workspace: Path) -> None:
    _add_model(workspace)
    init = workspace / "src/diffusers/__init__.py"
    original = init.read_bytes()
    async with Client(build_server(ServerOptions(checkout=workspace, require_approval=False)), mode="legacy") as c:
        registered = await call(c, "register_lazy_import", FOO)
        assert registered["added"] == ["FooTransformer2DModel"]
        assert (await call(c, "register_lazy_import", FOO))["already_present"] == ["FooTransformer2DModel"]
        report = await call(c, "check_registration", {"names": ["FooTransformer2DModel"]})
        assert report["ok"] and report["total"] == 0
        await call(c, "unregister_lazy_import", {"names": ["FooTransformer2DModel"]})
    assert init.read_bytes() == original
