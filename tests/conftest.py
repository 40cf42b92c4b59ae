"""Shared fixtures: a real diffusers tree built from the installed package, writable copies of it, the same tree
with a real clone's extras, and `needs`, the one way a test says what its environment lacks."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path
from typing import NoReturn

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.testing.trees import build_tree, copy_tree, run_git


def in_ci() -> bool:
    """True under CI (`CI=true`, as CI services set it): there every test must run."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def needs(what: str, fix: str) -> NoReturn:
    """Stop a test whose environment lacks `what`. On a developer's machine it skips with the reason and the fix;
    under CI it fails, so a missing clone, client or service never passes as a silent skip."""
    __tracebackhide__ = True  # the skip or failure points at the test that called it, not at this helper
    message = f"needs {what}: {fix}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: tests never skip in CI)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def diffusers_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pristine tree (git-initialised and committed). Read it; never write to it: use `workspace`."""
    return build_tree(tmp_path_factory.mktemp("pristine") / "diffusers")


@pytest.fixture
def workspace(diffusers_tree: Path, tmp_path: Path) -> Path:
    """A per-test writable copy of the pristine tree, git history included."""
    return copy_tree(diffusers_tree, tmp_path / "diffusers")


@pytest.fixture
def checkout(workspace: Path) -> Checkout:
    """A `Checkout` over the per-test copy."""
    return Checkout.find(workspace)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# What a git clone has and the installed wheel lacks. Upstream's files are read from a real clone at test time
# (never vendored here): the one $DIFFUSERS_CLONE names. CI unpacks ../shared/diffusers into one (.ci/run).
CLONE_VARIABLE = "DIFFUSERS_CLONE"
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


@pytest.fixture(scope="session")
def diffusers_clone() -> Path:
    """A real diffusers git clone (read it; never write to it): the one $DIFFUSERS_CLONE names."""
    value = os.environ.get(CLONE_VARIABLE)
    if not value:
        needs(
            "a diffusers git clone for upstream's clone-only files (tester mixins, utils/, docs toctree)",
            f"set {CLONE_VARIABLE}=/path/to/your/diffusers/clone (.ci/run unpacks ../shared/diffusers into one)",
        )
    clone = Path(value).expanduser()
    if not (clone / ".git").exists():  # set, but wrong: a mistake to fix, not a missing piece of the environment
        pytest.fail(
            f"{CLONE_VARIABLE}={value} is not a git clone (no .git there): point it at a diffusers clone",
            pytrace=False,
        )
    return clone


@pytest.fixture(scope="session")
def clone_tree(diffusers_clone: Path, diffusers_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed-package tree plus what only a git clone has (tester mixins, upstream utils, docs toctree)."""
    tree = copy_tree(diffusers_tree, tmp_path_factory.mktemp("clone") / "diffusers")
    archive = subprocess.run(
        ["git", "-C", str(diffusers_clone), "archive", "--format=tar", "HEAD", *CLONE_EXTRAS], capture_output=True
    )
    assert archive.returncode == 0, f"{CLONE_VARIABLE}={diffusers_clone}: {archive.stderr.decode()}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    run_git(tree, "add", "-A")
    run_git(tree, "commit", "-q", "-m", "extras of a git clone")
    return tree


@pytest.fixture
def clone_workspace(clone_tree: Path, tmp_path: Path) -> Path:
    """A per-test writable copy of `clone_tree`."""
    return copy_tree(clone_tree, tmp_path / "clone")
