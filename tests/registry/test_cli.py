"""The registry's CLI on the real tree: `register` prints its diffs, `check-registration` agrees, and a module
that does not exist exits 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .helpers import MODULE, _add_model


CLI = [sys.executable, "-m", "diffusers_integrator.cli"]


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
