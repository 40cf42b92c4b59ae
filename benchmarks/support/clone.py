"""A real diffusers clone for the benchmarks, and working copies of it.

The clone is the one `DIFFUSERS_CLONE` names, else the `git archive` of upstream's main in `../shared/diffusers/`
unpacked and committed (as `.ci/diffusers-clone.sh` does) into a cache folder reused by later runs. Benchmarks
never write to it: `working_copy` makes a `git clone --local` whose `origin/main` is the untouched tree, so the
change a benchmark makes is what `git diff origin/main` shows, as on a contributor's branch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "diffusers"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def find_clone() -> tuple[Path, str]:
    """(the clone, where it came from). Exits with the fix when there is none."""
    named = os.environ.get("DIFFUSERS_CLONE")
    if named:
        clone = Path(named).expanduser()
        if not (clone / ".git").exists():
            raise SystemExit(f"DIFFUSERS_CLONE={named} is not a git clone (no .git there)")
        return clone, f"DIFFUSERS_CLONE={clone}"
    archives = sorted(SHARED.glob("diffusers-*.tar.gz"))
    if not archives:
        raise SystemExit(
            f"no diffusers clone: set DIFFUSERS_CLONE=/path/to/a/diffusers/clone (or put the archive in {SHARED})"
        )
    archive = archives[-1]
    cache = Path(tempfile.gettempdir()) / f"diffusers-integrator-bench-{archive.name.removesuffix('.tar.gz')}"
    clone = cache / "diffusers"
    if not (cache / ".complete").exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            tar.extractall(cache, filter="data")
        _git(clone, "init", "-q", "-b", "main")
        _git(clone, "add", "-A")
        _git(clone, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", archive.name)
        (cache / ".complete").write_text("")
    return clone, f"{archive} unpacked into {clone}"


def working_copy(clone: Path, into: Path) -> Path:
    """A `git clone --local` of the clone under `into` (objects hard-linked, files checked out)."""
    target = into / "diffusers"
    subprocess.run(["git", "clone", "-q", "--local", str(clone), str(target)], check=True)
    _git(target, "config", "user.name", "bench")
    _git(target, "config", "user.email", "bench@localhost")
    return target


def ruff_pin(root: Path) -> str | None:
    """The ruff version setup.py pins (what `pip install -e .[quality]` gives a contributor)."""
    setup = root / "setup.py"
    match = re.search(r"[\"']ruff==([\w.]+)[\"']", setup.read_text()) if setup.is_file() else None
    return match.group(1) if match else None


def upstream_env(root: Path, ruff_dir: str | None) -> dict[str, str]:
    """The environment upstream's Makefile gives its commands: PYTHONPATH=src, the pinned ruff first on PATH,
    this interpreter's folder next (its `python`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = "src"
    path = [p for p in (ruff_dir, str(Path(sys.executable).parent)) if p]
    env["PATH"] = os.pathsep.join([*path, env.get("PATH", "")])
    return env


def machine_load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"
