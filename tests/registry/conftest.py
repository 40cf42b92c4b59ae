"""Fixtures of the registry tests: the pristine tree as in-memory texts, and a tiny new model + pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffusers_integrator.registry.graph import Graph, build_graph
from diffusers_integrator.registry.tree import MemoryTree


@pytest.fixture(scope="session")
def pristine(diffusers_tree: Path) -> MemoryTree:
    """Every `.py` file of the real tree, read once; tests layer their changes on top (`.layer()`)."""
    return MemoryTree.from_folder(diffusers_tree / "src" / "diffusers")


@pytest.fixture(scope="session")
def pristine_graph(pristine: MemoryTree) -> Graph:
    return build_graph(pristine)
