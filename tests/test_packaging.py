"""The wheel carries the skills, the tool descriptions and the scaffold's templates, and an installed copy
finds and uses them without the repository; every install the README gives works in a fresh environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from diffusers_integrator import __version__
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


# The README's installs, run as a user would: every line of the block after this marker, each in a fresh
# environment, then the installed command serves our tools over stdio.
INSTALL_MARK = "<!-- install-commands"
TOOL_ENVS = ("PIPX_HOME", "PIPX_BIN_DIR", "UV_TOOL_DIR", "UV_TOOL_BIN_DIR")


def readme_install_commands() -> list[str]:
    """The commands of the README's install block (comments dropped), so the README and this test cannot drift."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert INSTALL_MARK in text, "the README lost its install block"
    block = re.search(r"```bash\n(.*?)```", text.split(INSTALL_MARK, 1)[1], re.S)
    assert block is not None
    return [re.sub(r"\s+#.*$", "", line).strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_installs_from_a_clone_not_from_pypi() -> None:
    commands = readme_install_commands()
    assert [command.split()[0] for command in commands] == ["pip", "pip", "pip", "pipx", "uv"]
    assert "pip install diffusers-integrator" not in (REPO / "README.md").read_text(encoding="utf-8")
    wheel = next(command for command in commands if command.startswith("pip wheel")).split()[-1]
    assert wheel == f"dist/diffusers_integrator-{__version__}-py3-none-any.whl"


@pytest.fixture(scope="module")
def installers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding pipx and uv (from PyPI), as a user's machine would."""
    tools = tmp_path_factory.mktemp("installers") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
    _pip(tools, "pipx", "uv")
    return tools / "bin"


def _pip(venv: Path, *requirements: str) -> None:
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
        check=True,
        capture_output=True,
        timeout=600,
    )


def _install_env(tmp_path: Path, installers: Path, venv: Path) -> dict[str, str]:
    """A user's shell: the fresh venv and the installers first on PATH, tool folders of this test's own. The pins
    of constraints.txt reach pip and uv through their environment variables (the commands stay the README's), so
    PyTorch resolves to the build `make` installs, not a multi-GB one."""
    env = {**os.environ, **{name: str(tmp_path / name.lower()) for name in TOOL_ENVS}}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), str(installers), env["PIPX_BIN_DIR"], env["UV_TOOL_BIN_DIR"]])
    env["PATH"] += os.pathsep + "/usr/local/bin:/usr/bin:/bin"
    env.pop("VIRTUAL_ENV", None)
    env["PIP_CONSTRAINT"] = env["UV_CONSTRAINT"] = str(REPO / "constraints.txt")
    links = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.find-links"], capture_output=True, text=True
    ).stdout.strip()
    if links:  # a machine whose pip finds local wheels (PyTorch's CPU build): uv finds them too
        env["UV_FIND_LINKS"] = links
    return env


def _source_copy(dest: Path) -> Path:
    """The clone as a user has it: the project's files, none of this checkout's environments or caches."""
    ignored = shutil.ignore_patterns(
        ".venv", ".cache", ".git", "dist", "build", "__pycache__", ".*_cache", "eval-report*"
    )
    return shutil.copytree(REPO, dest, ignore=ignored)


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("command", readme_install_commands())
async def test_each_readme_install_gives_a_working_server(
    command: str, installers: Path, diffusers_tree: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    if command.startswith("pip "):  # into the user's active environment: a fresh one (pipx and uv make their own)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        _pip(venv, "torch==2.13.0")  # first, as `make` does: the CPU build from the pins, never the CUDA one
    env = _install_env(tmp_path, installers, venv)
    source = _source_copy(tmp_path / "diffusers-integrator")
    installed = subprocess.run(
        ["bash", "-c", command], cwd=source, env=env, capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    binary = shutil.which("diffusers-integrator", path=env["PATH"])
    assert binary and Path(binary).resolve().is_relative_to(tmp_path), binary
    helped = subprocess.run([binary, "serve", "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "--checkout" in helped.stdout, helped.stderr
    params = StdioServerParameters(command=binary, args=["serve"], cwd=diffusers_tree, env=env)
    async with Client(params) as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == [spec.name for spec in tool_specs()]
