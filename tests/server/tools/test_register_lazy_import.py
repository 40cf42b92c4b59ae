"""The registry through its edges: the MCP tools (dry run without a plan, real writes behind the gate) and
the CLI, on the real tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error


CLI = [sys.executable, "-m", "diffusers_integrator.cli"]
MODULE = "diffusers.models.transformers.transformer_foo"
FOO = {"symbols": [{"name": "FooTransformer2DModel", "module": MODULE}]}


def _add_model(workspace: Path) -> None:
    (workspace / "src/diffusers/models/transformers/transformer_foo.py").write_text(
        "import torch\n\n\nclass FooTransformer2DModel(torch.nn.Module):\n    pass\n"
    )


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


@pytest.mark.anyio
async def test_check_registration_finds_the_z_image_bug_planted_by_hand(workspace: Path) -> None:
    init = workspace / "src/diffusers/__init__.py"
    text = init.read_text()
    typing_entry = "        ZImageTransformer2DModel,\n"
    position = text.rindex(typing_entry)  # the TYPE_CHECKING half comes last
    init.write_text(text[:position] + text[position + len(typing_entry) :])
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        report = await call(client, "check_registration", {"names": ["ZImageTransformer2DModel"]})
    codes = {finding["code"] for finding in report["findings"]}
    assert not report["ok"] and "typing-missing" in codes
    finding = next(f for f in report["findings"] if f["code"] == "typing-missing")
    assert finding["path"] == "src/diffusers/__init__.py" and finding["auto_fixable"]


def test_the_cli_registers_with_diffs_and_checks(workspace: Path) -> None:
    _add_model(workspace)
    registered = subprocess.run(
        [*CLI, "register", MODULE, "FooTransformer2DModel", "--checkout", str(workspace)],
        capture_output=True,
        text=True,
    )
    assert registered.returncode == 0, registered.stderr
    assert "+class FooTransformer2DModel(metaclass=DummyObject):" in registered.stdout
    checked = subprocess.run(
        [*CLI, "check-registration", "--name", "FooTransformer2DModel", "--checkout", str(workspace)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout
    missing = subprocess.run(
        [*CLI, "register", "diffusers.models.nope", "Nope", "--checkout", str(workspace)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "error:" in missing.stderr
