"""Shared fixtures: a real diffusers tree built from the installed package, and writable copies of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.testing.trees import build_tree, copy_tree


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
