"""Helpers of the scaffold tests: running generated code, pytest and ruff in a tree (`clone_tree` and
`clone_workspace`, the tree with a git clone's extras, are in tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from diffusers_integrator.testing.trees import run_git


RUFF_CONFIG = Path(__file__).resolve().parents[2] / "src/diffusers_integrator/quality/data/ruff-diffusers.toml"


def git_status(tree: Path) -> str:
    return run_git(tree, "status", "--porcelain", "--untracked-files=all")


def run_in_tree(tree: Path, script: str, *args: str, timeout: int = 300) -> dict:
    """Runs `script` with the tree's own diffusers first on the path; the script prints one JSON object last."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=tree, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_pytest(tree: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs pytest inside the tree (its own conftest, its own diffusers)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ruff(tree: Path, *args: str) -> subprocess.CompletedProcess:
    """ruff with diffusers' settings (the ones make_quality ships for trees without a ruff config)."""
    config = RUFF_CONFIG
    ruff_bin = Path(sys.executable).parent / "ruff"
    command = [str(ruff_bin), args[0], "--config", str(config), *args[1:]]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=120)
