"""The wheel carries the skills, the tool descriptions and the scaffold's templates, and an installed copy
finds and uses them without the repository."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from diffusers_integrator.server import tool_specs


REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "src/diffusers_integrator/scaffold/templates"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], Path]:
    """The built wheel's file names, and the wheel unpacked as an installed copy would be."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dist)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("*.whl")
    unpacked = dist / "site"
    zipfile.ZipFile(built).extractall(unpacked)
    return set(zipfile.ZipFile(built).namelist()), unpacked


def _run_installed(unpacked: Path, probe: str) -> str:
    """Runs `probe` with the unpacked wheel first on the path (ahead of the editable install)."""
    return subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(unpacked)}, capture_output=True, text=True, check=True
    ).stdout


def test_the_wheel_ships_skills_and_tool_descriptions(wheel: tuple[set[str], Path]) -> None:
    names, unpacked = wheel
    for spec in tool_specs():
        assert f"diffusers_integrator/_data/tools/{spec.name}.md" in names
    for skill in ("integrating-models", "parity-testing", "modular-conversion"):
        assert f"diffusers_integrator/_data/skills/{skill}/SKILL.md" in names
    found = _run_installed(unpacked, "from diffusers_integrator.data import data_dir; print(data_dir('tools'))")
    assert Path(found.strip()) == unpacked / "diffusers_integrator" / "_data" / "tools"


def test_the_wheel_ships_the_eval_cases_and_the_parity_data(wheel: tuple[set[str], Path]) -> None:
    names, unpacked = wheel
    assert "diffusers_integrator/_data/evals/cases/tinydit/case.yaml" in names
    assert "diffusers_integrator/parity/data/divergence_causes.json" in names
    listed = _run_installed(
        unpacked, "from diffusers_integrator.evals.cases import load_cases; print(len(load_cases()))"
    )
    assert int(listed.strip()) >= 2


def test_the_wheel_ships_every_template_and_renders_from_it(wheel: tuple[set[str], Path]) -> None:
    names, unpacked = wheel
    templates = sorted(path.relative_to(TEMPLATES).as_posix() for path in TEMPLATES.rglob("*.j2"))
    assert len(templates) > 20
    for template in templates:
        assert f"diffusers_integrator/scaffold/templates/{template}" in names, template
    probe = (
        "from diffusers_integrator.scaffold.names import derive_names\n"
        "from diffusers_integrator.scaffold.render import render\n"
        "print(render('pipeline_output.py.j2', n=derive_names('Foo', pipeline='standard'), dims='2d'))\n"
    )
    assert "class FooPipelineOutput(BaseOutput):" in _run_installed(unpacked, probe)
