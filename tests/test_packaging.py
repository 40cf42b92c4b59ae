"""The wheel carries the skills and tool descriptions, and an installed copy finds them without the repo."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from diffusers_integrator.server import tool_specs


REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_skills_and_tool_descriptions(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for spec in tool_specs():
        assert f"diffusers_integrator/_data/tools/{spec.name}.md" in names
    for skill in ("integrating-models", "parity-testing", "modular-conversion"):
        assert f"diffusers_integrator/_data/skills/{skill}/SKILL.md" in names
    assert "diffusers_integrator/cli.py" in names

    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = "from diffusers_integrator.data import data_dir; print(data_dir('tools'))"
    found = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(unpacked)}, capture_output=True, text=True, check=True
    )
    assert Path(found.stdout.strip()) == unpacked / "diffusers_integrator" / "_data" / "tools"
