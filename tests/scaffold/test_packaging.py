"""The wheel carries the scaffold's templates, and an installed copy renders them without the repository."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "src/diffusers_integrator/scaffold/templates"


def test_the_wheel_ships_every_template_and_renders_from_it(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = sorted(path.relative_to(TEMPLATES).as_posix() for path in TEMPLATES.rglob("*.j2"))
    assert len(templates) > 20
    for template in templates:
        assert f"diffusers_integrator/scaffold/templates/{template}" in names, template

    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "from diffusers_integrator.scaffold.names import derive_names\n"
        "from diffusers_integrator.scaffold.render import render\n"
        "print(render('pipeline_output.py.j2', n=derive_names('Foo', pipeline='standard'), dims='2d'))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(unpacked)}, capture_output=True, text=True, check=True
    )
    assert "class FooPipelineOutput(BaseOutput):" in found.stdout
