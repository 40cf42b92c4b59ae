"""run_parity through a real MCP client on the research-style pair: a clean port passes, a planted bug is
localised; specs run only from .diffusers-integrator/specs/, and only once a plan is approved (they are code)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ...parity.specs import _write_spec, research_component


@pytest.mark.anyio
async def test_run_parity_passes_a_clean_port_and_localises_a_swapped_modulation(workspace: Path) -> None:
    clean = _write_spec(workspace, "clean.py", research_component())
    broken = _write_spec(workspace, "broken.py", research_component(mutate="swap_final_modulation"))
    async with Client(
        build_server(ServerOptions(checkout=workspace, require_approval=False)), mode="legacy"
    ) as client:
        passed = (await call(client, "run_parity", {"spec": clean, "device": "cpu", "wait_s": 50}))["result"]
        failed = (await call(client, "run_parity", {"spec": broken, "device": "cpu", "wait_s": 50}))["result"]
    assert passed["status"] == "passed", passed["summary"]
    assert failed["status"] == "failed"
    assert "norm_out" in failed["localization"]["first_divergence"]["culprit"]
    report_json = Path(failed["files"]["json"])
    assert report_json.is_file() and workspace / ".diffusers-integrator" / "reports" in report_json.parents


@pytest.mark.anyio
async def test_a_spec_in_the_shipped_tree_is_refused(workspace: Path) -> None:
    spec = workspace / "tests" / "parity_spec.py"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(research_component())
    async with Client(
        build_server(ServerOptions(checkout=workspace, require_approval=False)), mode="legacy"
    ) as client:
        message = await call_error(client, "run_parity", {"spec": "tests/parity_spec.py"})
        at_root = await call_error(client, "run_parity", {"spec": "README_spec.py"})
        long_name = await call_error(client, "run_parity", {"spec": "y" * 5000})
    assert ".diffusers-integrator/specs/parity_spec.py" in message
    # Issue 15 #3 and #8: a spec outside specs/ is refused; a 5,000-character name names the field.
    assert "not under `.diffusers-integrator/specs/`" in at_root and "executes" in at_root
    assert "`spec`: String should have at most 500 characters" in long_name and len(long_name) < 2000


@pytest.mark.anyio
async def test_running_a_spec_passes_the_approval_gate(workspace: Path) -> None:
    """Issue 15 #3: running a spec executes the agent's code, so it needs an approved plan, like a write."""
    marker = workspace / "ran.txt"
    spec = _write_spec(workspace, "side_effect.py", f"open({str(marker)!r}, 'w').write('ran')\n")
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        refused = await call_error(client, "run_parity", {"spec": spec, "wait_s": 0})
    assert "`run_parity` runs code from the checkout, and no plan has been approved" in refused
    assert not marker.exists()
