"""The CLI edge: same core functions, readable output, and errors that exit 2 with the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


CLI = [sys.executable, "-m", "diffusers_integrator.cli"]


def test_inspect_prints_the_survey_as_json(diffusers_tree: Path) -> None:
    result = subprocess.run(
        [*CLI, "inspect", "--checkout", str(diffusers_tree), "--json"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["package"] == "src/diffusers"


def test_a_bad_checkout_exits_2_and_names_the_fix(tmp_path: Path) -> None:
    result = subprocess.run([*CLI, "inspect", "--checkout", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "error: No diffusers tree" in result.stderr and "--checkout" in result.stderr
    assert result.stdout == ""


def test_the_demo_tours_the_real_server_and_passes(tmp_path: Path) -> None:
    # The installed package's tree (no clone): the model tests cannot run there, and the demo must say so.
    environment = {key: value for key, value in os.environ.items() if key != "DIFFUSERS_CLONE"}
    result = subprocess.run(
        [*CLI, "demo", "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=900, env=environment
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scaffold before approval" in result.stdout and "refused, as it must be" in result.stdout
    assert "culprit norm_out" in result.stdout and "score 7/7 (full)" in result.stdout
    assert result.stdout.rstrip().endswith("demo passed")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] and report["scorecard"]["full"]
    assert "**Score: 7/7** (full)" in (tmp_path / "report.md").read_text()

    # The port is in the tree, the shipped script converted the checkpoint, the pipeline saved a real PNG.
    from PIL import Image

    from diffusers_integrator.testing import tiny_dit_integration as integration

    tree = tmp_path / "diffusers"
    assert "joint attention" in (tree / integration.MODEL_FILE).read_text()
    assert (tree / integration.CONVERTED / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    with Image.open(tmp_path / "tiny_dit.png") as image:
        assert image.format == "PNG" and len(image.convert("RGB").getcolors(image.width * image.height)) > 10
    # The generated tests: what ran passed; the model tests' skip is reported as not run, never as passed.
    tests = report["facts"]["tests"]
    files = tests["files"]
    assert tests["failed"] == tests["errors"] == 0 and tests["passed"] >= 8 and not tests["clone"]
    assert files["tests/models/transformers/test_models_transformer_tiny_dit.py"] == {
        "passed": 0,
        "failed": 0,
        "errors": 0,
        "skipped": 1,
    }
    assert "could not run here" in result.stdout and "tests/models/testing_utils" in result.stdout
    assert not list((tree / "src").rglob("__pycache__")), "running the tree's code left no bytecode in it"

    # A maintainer grades the same recorded session from the CLI; a wrong expectation fails it.
    tree = str(tmp_path / "diffusers")
    specs = ".diffusers-integrator/specs"
    graded = subprocess.run(
        [*CLI, "sessions", "score", "--checkout", tree, "--parity-pass", f"{specs}/tinydit_transformer.py"],
        capture_output=True,
        text=True,
    )
    assert graded.returncode == 0 and "score 6/6 (full)" in graded.stdout, graded.stdout + graded.stderr
    wrong = f"{specs}/tinydit_transformer_planted_bug.py=blocks.0.attn"
    regraded = subprocess.run(
        [*CLI, "sessions", "score", "--checkout", tree, "--parity-bug", wrong], capture_output=True, text=True
    )
    assert regraded.returncode == 1 and "FAIL  planted bug localised" in regraded.stdout


def test_skills_check_is_clean_and_install_update_remove_round_trip(tmp_path: Path) -> None:
    check = subprocess.run([*CLI, "skills", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for action in ("install", "update", "remove"):
        done = subprocess.run(
            [*CLI, "skills", action, "--agents", "--dir", str(tmp_path)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        if action != "remove":
            assert (tmp_path / ".agents" / "skills" / "parity-testing" / "SKILL.md").is_file()
    assert not (tmp_path / ".agents" / "skills" / "parity-testing").exists()
