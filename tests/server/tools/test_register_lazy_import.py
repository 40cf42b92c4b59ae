"""register_lazy_import through a real MCP client: a dry run needs no plan, a real write does."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ...registry.helpers import FOO, _add_model


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_dry_run_needs_no_plan_and_a_real_write_does(workspace: Path, mode: str) -> None:
    _add_model(workspace)
    async with Client(build_server(ServerOptions(checkout=workspace)), mode=mode) as client:
        preview = await call(client, "register_lazy_import", {**FOO, "dry_run": True})
        assert {change["path"] for change in preview["changes"]} == {
            "src/diffusers/__init__.py",
            "src/diffusers/models/__init__.py",
            "src/diffusers/models/transformers/__init__.py",
            "src/diffusers/utils/dummy_pt_objects.py",
        }
        assert "confirm_plan" in await call_error(client, "register_lazy_import", FOO)
    assert "FooTransformer2DModel" not in (workspace / "src/diffusers/__init__.py").read_text()


@pytest.mark.anyio
async def test_a_module_symlinked_out_of_the_tree_is_never_read(workspace: Path, tmp_path: Path) -> None:
    """Issue 15 #10: register_lazy_import read a symlinked module file outside the tree."""
    outside = tmp_path / "outside" / "evil.py"
    outside.parent.mkdir()
    outside.write_text("import torch\n\n\nclass EvilTransformer2DModel(torch.nn.Module):\n    pass\n")
    (workspace / "src/diffusers/models/transformers/transformer_evil.py").symlink_to(outside)
    before = (workspace / "src/diffusers/__init__.py").read_text()
    symbol = {"name": "EvilTransformer2DModel", "module": "diffusers.models.transformers.transformer_evil"}
    async with Client(build_server(ServerOptions(checkout=workspace, require_approval=False)), mode="legacy") as c:
        refused = await call_error(c, "register_lazy_import", {"symbols": [symbol]})
    assert "outside the checkout" in refused and "symlink" in refused
    assert (workspace / "src/diffusers/__init__.py").read_text() == before
