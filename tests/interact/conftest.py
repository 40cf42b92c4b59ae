"""Fixtures of the human-in-the-loop tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffusers_integrator.workspace import copy_tree


@pytest.fixture(scope="module")
def module_workspace(diffusers_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One writable copy per module, for tests that only leave traces (each session writes its own file)."""
    return copy_tree(diffusers_tree, tmp_path_factory.mktemp("interact") / "diffusers")
