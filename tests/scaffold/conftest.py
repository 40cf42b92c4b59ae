"""Fixtures of the scaffold tests: a tree with a git clone's extras, and running generated code in a tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from diffusers_integrator.workspace import copy_tree, run_git


EXTRAS = Path(__file__).parent / "fixtures" / "diffusers-clone-extras.tar.xz"


@pytest.fixture(scope="session")
def clone_tree(diffusers_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed-package tree plus what only a git clone has (tester mixins, upstream utils, docs toctree)."""
    tree = copy_tree(diffusers_tree, tmp_path_factory.mktemp("clone") / "diffusers")
    with tarfile.open(EXTRAS) as archive:
        for member in archive.getmembers():
            member.name = member.name.split("/", 1)[1] if "/" in member.name else ""
            if member.name:
                archive.extract(member, tree, filter="data")
    run_git(tree, "add", "-A")
    run_git(tree, "commit", "-q", "-m", "extras of a git clone")
    return tree


@pytest.fixture
def clone_workspace(clone_tree: Path, tmp_path: Path) -> Path:
    """A per-test writable copy of `clone_tree`."""
    return copy_tree(clone_tree, tmp_path / "clone")


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
    """ruff with diffusers' own configuration (the clone's pyproject.toml from the fixture, kept outside the tree)."""
    config = tree.parent / "diffusers-ruff" / "pyproject.toml"
    if not config.is_file():
        config.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(EXTRAS) as archive:
            config.write_bytes(archive.extractfile("diffusers-clone-extras/pyproject.toml").read())
    ruff_bin = Path(sys.executable).parent / "ruff"
    command = [str(ruff_bin), args[0], "--config", str(config), *args[1:]]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=120)
