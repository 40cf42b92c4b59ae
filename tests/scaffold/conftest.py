"""Fixtures of the scaffold tests: a tree with a git clone's extras, and running generated code in a tree."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from diffusers_integrator.testing.trees import copy_tree, run_git


# What a git clone has and the installed wheel lacks. Upstream's files are read from a real clone at test time
# (never vendored here): $DIFFUSERS_CLONE, or the read-only mirror some development machines carry.
CLONE_EXTRAS = [
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/testing_utils.py",
    "tests/models/__init__.py",
    "tests/models/testing_utils",
    "tests/models/transformers/__init__.py",
    "tests/models/autoencoders/__init__.py",
    "tests/pipelines/__init__.py",
    "tests/modular_pipelines/__init__.py",
    "tests/schedulers/__init__.py",
    "tests/lora/__init__.py",
    "utils/generate_model_tests.py",
    "utils/check_doc_toc.py",
    "utils/check_copies.py",
    "docs/source/en/_toctree.yml",
    "pyproject.toml",
]
MIRROR = Path("/work/.mirror/huggingface+diffusers")
RUFF_CONFIG = Path(__file__).resolve().parents[2] / "src/diffusers_integrator/quality/data/ruff-diffusers.toml"


def _git_dir_of_a_clone() -> list[str] | None:
    """git arguments that address a real diffusers clone, or None when this machine has none."""
    clone = os.environ.get("DIFFUSERS_CLONE")
    if clone and (Path(clone) / ".git").exists():
        return ["-C", clone]
    bare = (
        next((p for p in MIRROR.rglob("HEAD") if (p.parent / "objects").is_dir()), None) if MIRROR.is_dir() else None
    )
    return ["--git-dir", str(bare.parent)] if bare else None


@pytest.fixture(scope="session")
def clone_tree(diffusers_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed-package tree plus what only a git clone has (tester mixins, upstream utils, docs toctree)."""
    git = _git_dir_of_a_clone()
    if git is None:
        pytest.skip("needs upstream's clone-only files: set DIFFUSERS_CLONE to a diffusers git clone")
    tree = copy_tree(diffusers_tree, tmp_path_factory.mktemp("clone") / "diffusers")
    archive = subprocess.run(["git", *git, "archive", "--format=tar", "HEAD", *CLONE_EXTRAS], capture_output=True)
    assert archive.returncode == 0, archive.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
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
    """ruff with diffusers' settings (the ones make_quality ships for trees without a ruff config)."""
    config = RUFF_CONFIG
    ruff_bin = Path(sys.executable).parent / "ruff"
    command = [str(ruff_bin), args[0], "--config", str(config), *args[1:]]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=120)
