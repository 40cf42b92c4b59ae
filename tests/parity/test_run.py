"""`parity/run.py`: the product's rules for a checkout's specs hold alike for the core, the CLI and the MCP tool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.parity.run import RunParityRequest, run_parity

from .specs import _write_spec, research_component


def _shipped_spec(workspace: Path) -> Path:
    spec = workspace / "src" / "parity_spec.py"
    spec.write_text(research_component())
    return spec


def test_a_spec_inside_src_is_refused_with_where_to_put_it(workspace: Path) -> None:
    _shipped_spec(workspace)
    with pytest.raises(IntegratorError) as refused:
        run_parity(Checkout.find(workspace), RunParityRequest(spec="src/parity_spec.py"))
    assert "inside `src/`" in str(refused.value)
    assert ".diffusers-integrator/specs/parity_spec.py" in str(refused.value)
    assert not (workspace / ".diffusers-integrator" / "reports").exists()


def test_the_cli_refuses_it_exactly_as_the_tool_does(workspace: Path, tmp_path: Path) -> None:
    spec = _shipped_spec(workspace)
    with pytest.raises(IntegratorError) as refused:
        run_parity(Checkout.find(workspace), RunParityRequest(spec="src/parity_spec.py"))
    # From another folder, naming the checkout: the same refusal, word for word, and exit status 2.
    run = subprocess.run(
        [sys.executable, "-m", "diffusers_integrator.cli", "parity", str(spec), "--checkout", str(workspace)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip() == f"error: {refused.value}"


def test_a_spec_outside_the_checkout_is_refused(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.py"
    outside.write_text(research_component())
    run = subprocess.run(
        [sys.executable, "-m", "diffusers_integrator.cli", "parity", str(outside), "--checkout", str(workspace)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "outside the checkout" in run.stderr


def test_the_report_goes_under_the_checkouts_state_folder(workspace: Path) -> None:
    rel = _write_spec(workspace, "clean.py", research_component())
    report = run_parity(Checkout.find(workspace), RunParityRequest(spec=rel, device="cpu", localize=False))
    assert report.status == "passed", report.summary
    reports = workspace / ".diffusers-integrator" / "reports"
    assert Path(report.files["json"]).parent.parent == reports
    assert Path(report.files["json"]).parent.name.startswith("clean-")
