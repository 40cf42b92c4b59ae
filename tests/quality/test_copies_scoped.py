"""The scoped `# Copied from` check against upstream's own `utils/check_copies.py`, side by side on one tree.

A scoped run checks the blocks in the changed files and the blocks anywhere that copy a definition the change
touched. Upstream's script checks every block of the tree. On planted drift both ways (a copy edited by hand, a
source edited under its copies, renamed copies formatted with ruff among them) the two must report exactly the
same blocks; everything upstream finds must lie in our scope; and the scope must stay a small part of the tree.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality import QualityRequest, copies, run_quality
from diffusers_integrator.quality.ruff_bin import find_ruff
from diffusers_integrator.quality.scope import resolve_scope
from diffusers_integrator.testing.trees import run_git

from .plant import PKG, line_of


DDPM = f"{PKG}/schedulers/scheduling_ddpm.py"
DDIM = f"{PKG}/schedulers/scheduling_ddim.py"
COGVIEW = f"{PKG}/pipelines/cogview3/pipeline_cogview3plus.py"
_UPSTREAM_LINE = re.compile(r"^- (\S+): copy does not match (\S+) at line (\d+)", re.M)


@pytest.fixture
def tree(clone_workspace: Path, diffusers_clone: Path) -> Path:
    """The clone-backed tree with upstream's setup.py too, so both sides use the ruff upstream pins."""
    setup = subprocess.run(
        ["git", "-C", str(diffusers_clone), "show", "HEAD:setup.py"], capture_output=True, text=True, check=True
    )
    (clone_workspace / "setup.py").write_text(setup.stdout)
    run_git(clone_workspace, "add", "setup.py")
    run_git(clone_workspace, "commit", "-q", "-m", "setup.py")
    return clone_workspace


def _ruff(root: Path) -> str:
    pin = re.search(r"[\"']ruff==([\w.]+)[\"']", (root / "setup.py").read_text()).group(1)
    binary = find_ruff(pin)
    assert binary.matches_pin, binary.note
    return binary.path


def _upstream(root: Path, ruff: str) -> tuple[int, str]:
    """`python utils/check_copies.py` from the root, as CI runs it, with the pinned ruff first on PATH."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(ruff).parent), os.environ.get("PATH", "")])}
    done = subprocess.run(
        [sys.executable, "utils/check_copies.py"], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    return done.returncode, done.stdout + done.stderr


def _upstream_blocks(output: str) -> set[tuple[str, str, int]]:
    """(file, copied object, 0-based first line of the compared body) for every stale block upstream names."""
    return {(path, name, int(line)) for path, name, line in _UPSTREAM_LINE.findall(output)}


def _our_blocks(root: Path, ruff: str) -> tuple[set[tuple[str, str, int]], copies.CopiesReport]:
    checkout = Checkout.find(root)
    scope = resolve_scope(checkout, "changed")
    report = copies.check_copies(checkout, scope, ruff, root / "pyproject.toml")
    stale = {(b.path, b.object_name, b.start) for b in report.blocks if b.stale}
    return stale, report


def _edit(root: Path, path: str, old: str, new: str, start_at: str | None = None) -> int:
    """Replaces `old` by `new` on the first line holding it (after `start_at`); returns that line (1-based)."""
    start = line_of(root, path, start_at) if start_at else 1
    number = line_of(root, path, old, start=start)
    lines = (root / path).read_text().splitlines(keepends=True)
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    (root / path).write_text("".join(lines))
    return number


def test_scoped_copies_equal_upstream_on_planted_drift_both_ways(tree: Path) -> None:
    ruff = _ruff(tree)
    # Drift in copies: a plain copy and a renamed one (the expected code goes through ruff) edited by hand.
    _edit(tree, DDIM, "return sample", "return sample * 1", start_at="def _threshold_sample")
    _edit(tree, COGVIEW, 'padding="max_length"', 'padding="longest"', start_at="def _get_t5_prompt_embeds")
    # Drift under copies: sources edited in files whose copies elsewhere are untouched (renamed copies of the
    # output dataclass in every scheduler, plain copies of `get_velocity`) ...
    _edit(tree, DDPM, "Computed sample `(x_{t-1})`", "Computed sample (x_{t-1})")
    _edit(tree, DDPM, "velocity = sqrt_alpha_prod", "velocity = 1.0 * sqrt_alpha_prod")
    # ... and a line in a definition nobody copies, which must not pull in the file's other copies.
    _edit(tree, DDPM, "t = timestep", "t = timestep  # the step", start_at="def step(")

    returncode, output = _upstream(tree, ruff)
    upstream = _upstream_blocks(output)
    ours, report = _our_blocks(tree, ruff)

    assert returncode != 0 and upstream, output[-2000:]
    assert ours == upstream
    assert {path for path, _, _ in upstream} >= {DDIM, COGVIEW, DDPM.replace("ddpm", "euler_discrete")}
    assert any(name.endswith("get_velocity") for _, name, _ in upstream)
    # Only the blocks the change can have made stale were looked at: a small part of the tree's ~2,200.
    all_blocks = sum(len(markers) for markers in copies.marker_index(Checkout.find(tree), True).values())
    assert len(report.blocks) < all_blocks / 10
    elsewhere = {b.object_name.rsplit(".", 1)[-1] for b in report.blocks if b.path not in (DDPM, DDIM, COGVIEW)}
    assert elsewhere == {"DDPMSchedulerOutput", "get_velocity"}  # not the copies of DDPM's other definitions

    # The public result points at the first differing line of each block upstream names.
    result = run_quality(Checkout.find(tree), QualityRequest(checks=["copies"], max_findings=500))
    expected = {
        (path, copies.first_difference_line(Checkout.find(tree), path, line, ruff, tree / "pyproject.toml"))
        for path, _, line in upstream
    }
    assert {(f.path, f.line) for f in result.findings} == expected
    assert result.summary[0].detail.startswith("built-in re-derivation")

    # Fixing syncs exactly those blocks: upstream's script passes afterwards.
    fixed = run_quality(Checkout.find(tree), QualityRequest(checks=["copies"], fix=True, max_findings=500))
    assert fixed.ok, fixed.findings
    assert _upstream(tree, ruff)[0] == 0


def test_scoped_copies_equal_upstream_file_by_file(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upstream's own `is_copy_consistent`, imported from the tree, on every file our scope looked at."""
    ruff = _ruff(tree)
    _edit(tree, DDPM, "velocity = sqrt_alpha_prod", "velocity = 1.0 * sqrt_alpha_prod")
    _edit(tree, COGVIEW, 'padding="max_length"', 'padding="longest"', start_at="def _get_t5_prompt_embeds")
    ours, report = _our_blocks(tree, ruff)

    monkeypatch.chdir(tree)  # upstream's paths are relative to the root
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(ruff).parent), os.environ.get("PATH", "")]))
    spec = importlib.util.spec_from_file_location("upstream_check_copies", tree / "utils" / "check_copies.py")
    check_copies = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_copies)

    looked_at = {b.path for b in report.blocks}
    upstream = {
        (path, name, start) for path in sorted(looked_at) for name, start in check_copies.is_copy_consistent(path)
    }
    assert looked_at and ours == upstream
    assert {path for path, _, _ in ours} > {COGVIEW}


def test_a_copied_definition_renamed_away_fails_both(tree: Path) -> None:
    ruff = _ruff(tree)
    _edit(tree, DDPM, "def get_velocity(", "def get_velocity_renamed(")

    returncode, output = _upstream(tree, ruff)
    _, report = _our_blocks(tree, ruff)

    # Upstream stops at the first copy it cannot resolve; we name every one of them.
    assert returncode != 0
    assert "DDPMScheduler.get_velocity does not match any function or class" in output
    missing = [b for b in report.blocks if b.error is not None]
    assert missing and all(b.object_name.endswith("DDPMScheduler.get_velocity") for b in missing)
    result = run_quality(Checkout.find(tree), QualityRequest(checks=["copies"]))
    assert {f.code for f in result.findings} == {"copy-source-missing"}
    assert len(result.findings) == len(missing) >= 5


def test_lines_removed_from_a_source_reach_its_copies_and_nothing_else(tree: Path) -> None:
    ruff = _ruff(tree)
    path = tree / DDPM
    lines = path.read_text().splitlines(keepends=True)
    comment = line_of(
        tree,
        DDPM,
        "# Make sure alphas_cumprod and timestep have same device",
        start=line_of(tree, DDPM, "def get_velocity"),
    )
    del lines[comment - 1]  # a pure deletion inside `get_velocity`: no line of the new file is "added"
    after_len = line_of(tree, DDPM, "def __len__") - 1  # the blank line before `__len__` (outside every copy)
    assert not lines[after_len - 2].strip()
    del lines[after_len - 2]
    path.write_text("".join(lines))

    returncode, output = _upstream(tree, ruff)
    ours, report = _our_blocks(tree, ruff)

    assert returncode != 0 and ours == _upstream_blocks(output)
    assert {name.rsplit(".", 1)[-1] for _, name, _ in ours} == {"get_velocity"}
    assert {b.object_name.rsplit(".", 1)[-1] for b in report.blocks if b.path != DDPM} == {"get_velocity"}
