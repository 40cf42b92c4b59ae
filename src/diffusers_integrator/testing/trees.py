"""Build a real diffusers tree from the installed diffusers package.

Tests, the demo and eval replays need a diffusers source tree without the network. The installed wheel holds
the whole `diffusers` package (every init, dummy file, model and pipeline), so copying it to `src/diffusers`
and committing it with git gives a faithful checkout in the git-clone layout.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from ..errors import IntegratorError


_GIT_IDENTITY = ["-c", "user.name=diffusers-integrator", "-c", "user.email=integrator@localhost"]


def installed_diffusers_dir() -> Path:
    """The folder of the installed `diffusers` package, found without importing it."""
    spec = importlib.util.find_spec("diffusers")
    if spec is None or not spec.submodule_search_locations:
        raise IntegratorError("diffusers is not installed in this environment.", "Run `pip install diffusers`.")
    return Path(next(iter(spec.submodule_search_locations)))


def build_tree(dest: Path, *, source: Path | None = None, git: bool = True) -> Path:
    """Copies the installed diffusers package to `dest/src/diffusers` and commits it on a `main` branch.

    Returns `dest`. Byte-compiled files are left out so the tree is what a clone holds.
    """
    source = source or installed_diffusers_dir()
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, dest / "src" / "diffusers", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if git:
        run_git(dest, "init", "-q", "-b", "main")
        run_git(dest, "add", "-A")
        run_git(dest, "commit", "-q", "-m", "diffusers from the installed package")
    return dest


def copy_tree(source: Path, dest: Path) -> Path:
    """A cheap writable copy of a built tree, git history included, without our state (traces, reports)."""
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns(".diffusers-integrator"))
    return dest


def run_git(cwd: Path, *args: str) -> str:
    """Runs git with a fixed identity, so commits work on a machine with no git config."""
    result = subprocess.run(["git", *_GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise IntegratorError(
            f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}", "Check that git works."
        )
    return result.stdout
