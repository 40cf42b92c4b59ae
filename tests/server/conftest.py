"""Fixtures of the server tests: a fresh copy of the tree per test (or per module), without earlier sessions' state."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diffusers_integrator.checkout import STATE_DIR_NAME
from diffusers_integrator.testing.trees import copy_tree


def _fresh_copy(source: Path, dest: Path) -> Path:
    """A writable copy without the source's state folder: other tests' servers may have traced into the pristine
    tree (it is git-ignored, so it survives in the copy), and these tests count sessions."""
    copy_tree(source, dest)
    shutil.rmtree(dest / STATE_DIR_NAME, ignore_errors=True)
    return dest


@pytest.fixture
def workspace(diffusers_tree: Path, tmp_path: Path) -> Path:
    return _fresh_copy(diffusers_tree, tmp_path / "diffusers")


@pytest.fixture(scope="module")
def module_workspace(diffusers_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One writable copy per module, for tests that only leave traces (each session writes its own file)."""
    return _fresh_copy(diffusers_tree, tmp_path_factory.mktemp("interact") / "diffusers")
