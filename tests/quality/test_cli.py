"""The `quality` CLI: findings printed with their places and exit 1, fixes, and explicit paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffusers_integrator.cli import main

from .plant import plant_model, plant_unsorted


def test_cli_reports_findings_and_exits_1(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spots = plant_model(workspace)
    code = main(["quality", "--checkout", str(workspace), "--checks", "ruff-check", "model-code"])
    out = capsys.readouterr().out
    assert code == 1
    unused = spots["unused-import"]
    assert f"{unused.path}:{unused.line}:8: F401" in out
    assert f"{spots['einops'].path}:{spots['einops'].line}:1: einops" in out

    code = main(["quality", "--checkout", str(workspace), "--fix", "--checks", "ruff-check", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] and data["fixed"][0]["path"] == unused.path
    assert data["scope"] == "changed (1 file)"


def test_cli_explicit_paths(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plant_model(workspace)
    other = plant_unsorted(workspace)
    code = main(["quality", "--checkout", str(workspace), "--scope", other.path, "--checks", "ruff-check", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(f["path"], f["line"], f["code"]) for f in data["findings"]] == [(other.path, other.line, "I001")]
