"""Fixtures for the skills tests: the server's tool names and writable copies of the shipped skills."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diffusers_integrator.server import tool_specs
from diffusers_integrator.skills import skills_dir


@pytest.fixture(scope="session")
def known_tools() -> set[str]:
    """The names the server really offers: the contract the skills are checked against."""
    return {spec.name for spec in tool_specs()}


@pytest.fixture
def skills_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped skills, for planting faults or changing the source of an install."""
    return Path(shutil.copytree(skills_dir(), tmp_path / "skills"))


@pytest.fixture(scope="session")
def tool_arguments() -> dict[str, set[str]]:
    """Each tool with its input schema's argument names, as `skills check` passes them."""
    return {spec.name: set(spec.request_model.model_json_schema().get("properties", {})) for spec in tool_specs()}
