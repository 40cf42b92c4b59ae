"""The `parity` CLI on the research-style pair: its exit status follows the verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .specs import _write_spec, research_component


def test_the_parity_cli_exit_status_follows_the_verdict(workspace: Path) -> None:
    broken = workspace / _write_spec(workspace, "broken.py", research_component(mutate="swap_final_modulation"))
    run = subprocess.run(
        [sys.executable, "-m", "diffusers_integrator.cli", "parity", str(broken), "--device", "cpu", "--json"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr[-2000:]
    assert json.loads(run.stdout)["status"] == "failed"
