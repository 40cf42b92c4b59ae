"""Which ruff and settings produce the findings, and how the checkout's own upstream scripts are read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality import QualityRequest, run_quality
from diffusers_integrator.quality.ruff_bin import ENV_CACHE, ENV_RUFF
from diffusers_integrator.testing.trees import run_git

from ..conftest import needs
from .plant import PKG, STALE_COPY_PATH, line_of, plant_model, plant_stale_copy, plant_unformatted, plant_unsorted


def test_the_trees_own_pin_and_config_win(workspace: Path) -> None:
    (workspace / "setup.py").write_text('_deps = [\n    "ruff==0.9.10",\n    "torch>=1.4",\n]\n')
    (workspace / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    helper = f"{PKG}/schedulers/scheduling_planted.py"  # its def line is 104 characters: fine at 119, not at 100
    (workspace / helper).write_text(
        "def planted(first_argument_name, second_argument_name, third_argument_name, fourth_argument_name_wxyz):\n    return 1\n"
    )

    result = run_quality(Checkout.find(workspace), QualityRequest(checks=["ruff-format"]))

    assert result.ruff is not None and result.ruff.config == "pyproject.toml" and result.ruff.matches_pin
    assert "setup.py pins" in result.ruff.note
    assert [(f.path, f.line) for f in result.findings] == [(helper, line_of(workspace, helper, "def planted("))]


def test_another_ruff_is_named_in_the_result(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv_ruff = Path(sys.executable).parent / "ruff"
    monkeypatch.setenv(ENV_RUFF, str(venv_ruff))
    plant_unsorted(workspace)

    result = run_quality(Checkout.find(workspace), QualityRequest(checks=["ruff-check"]))

    assert result.ruff is not None and result.ruff.path == str(venv_ruff) and not result.ruff.matches_pin
    assert any("not the pinned 0.9.10" in note for note in result.notes)
    assert [f.code for f in result.findings] == ["I001"]


def test_a_pin_that_cannot_be_installed_falls_back_and_says_why(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "cache"))
    (workspace / "setup.py").write_text('_deps = ["ruff==0.0.0"]\n')
    plant_unsorted(workspace)

    result = run_quality(Checkout.find(workspace), QualityRequest(checks=["ruff-check"]))

    assert result.ruff is not None and result.ruff.pinned == "0.0.0" and not result.ruff.matches_pin
    assert (
        result.ruff.note.startswith("FALLBACK: wanted ruff 0.0.0")
        and "pip install ruff==0.0.0 failed" in result.ruff.note
    )
    assert [f.code for f in result.findings] == ["I001"]
    assert not list((tmp_path / "cache").glob("ruff-0.0.0"))  # no half install left behind


def _script(root: Path, name: str, body: str) -> None:
    (root / "utils").mkdir(exist_ok=True)
    (root / "utils" / f"{name}.py").write_text(body)


def test_a_crashing_upstream_script_is_broken_not_a_finding(workspace: Path) -> None:
    # What utils/check_inits.py does at diffusers HEAD: it still looks for transformers' sources.
    _script(workspace, "check_dummies", "open('src/transformers/__init__.py')\n")
    _script(
        workspace,
        "check_forward_call_docstrings",
        "import sys\nprint(f'{sys.argv[2]}:3: TinyPlantedModel.forward is missing docstring entries for: x')\nsys.exit(1)\n",
    )
    spots = plant_model(workspace)

    # Named explicitly, the file is checked by every script (a `changed` run skips those that read other files).
    result = run_quality(Checkout.find(workspace), QualityRequest(scope=[spots["einops"].path], checks=["upstream"]))

    summary = {s.check: s for s in result.summary}
    assert summary["upstream/check_dummies"].status == "broken"
    assert summary["upstream/check_dummies"].detail.startswith("upstream check broken: FileNotFoundError")
    assert summary["upstream/check_forward_call_docstrings"].status == "failed"
    assert [(f.check, f.path, f.line) for f in result.findings] == [
        ("upstream/check_forward_call_docstrings", spots["einops"].path, 3)
    ]
    assert "python utils/check_forward_call_docstrings.py --paths " + spots["einops"].path in result.commands
    assert not result.ok


UPSTREAM_COPIES_OUTPUT = """\
import sys
print("Traceback (most recent call last):", file=sys.stderr)
print("Exception: Found the following copy inconsistencies:", file=sys.stderr)
print("- {path}: copy does not match schedulers.scheduling_ddpm.DDPMSchedulerOutput at line {line}", file=sys.stderr)
print("Run `make fix-copies` or `python utils/check_copies.py --fix_and_overwrite` to fix them.", file=sys.stderr)
sys.exit(1)
"""


def test_upstream_check_copies_runs_for_the_whole_tree_and_is_replaced_when_broken(workspace: Path) -> None:
    spot = plant_stale_copy(workspace)
    header = line_of(workspace, STALE_COPY_PATH, "class EulerDiscreteSchedulerOutput")
    _script(workspace, "check_copies", UPSTREAM_COPIES_OUTPUT.format(path=STALE_COPY_PATH, line=header))
    checkout = Checkout.find(workspace)

    upstream = run_quality(checkout, QualityRequest(scope="all", checks=["copies"]))
    assert upstream.summary[0].detail.startswith("upstream utils/check_copies.py")
    # Upstream names the class line; the finding points at the line that differs, as the built-in check does.
    assert [(f.code, f.path, f.line) for f in upstream.findings] == [("copy-mismatch", spot.path, spot.line)]

    # A scoped run never pays for the script's whole-tree pass: the built-in rules on the blocks in scope.
    scoped = run_quality(checkout, QualityRequest(checks=["copies"]))
    assert scoped.summary[0].detail.startswith("built-in re-derivation")
    assert "python utils/check_copies.py" not in scoped.commands
    assert [(f.code, f.path, f.line) for f in scoped.findings] == [("copy-mismatch", spot.path, spot.line)]

    _script(workspace, "check_copies", "import diffusers.models.auto\n")
    fallback = run_quality(checkout, QualityRequest(scope="all", checks=["copies"]))
    assert fallback.summary[0].detail.startswith("upstream check broken: utils/check_copies.py: ModuleNotFoundError")
    assert "built-in re-derivation" in fallback.summary[0].detail
    assert [(f.code, f.path, f.line) for f in fallback.findings] == [("copy-mismatch", spot.path, spot.line)]


def test_the_shipped_settings_are_diffusers_settings() -> None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        needs("Python 3.11+ (tomllib)", "run the suite on Python 3.11 or newer, as CI does")

    from diffusers_integrator.quality.ruff_checks import shipped_config

    settings = tomllib.loads(shipped_config().read_text())
    assert settings["line-length"] == 119
    assert settings["lint"]["select"] == ["C", "E", "F", "I", "W"]
    assert settings["lint"]["isort"] == {"lines-after-imports": 2, "known-first-party": ["diffusers"]}
    assert set(settings["lint"]["per-file-ignores"]) == {"__init__.py", "**/utils/dummy_*.py"}


def test_a_changed_run_skips_upstream_scripts_whose_files_it_leaves_alone(workspace: Path) -> None:
    failing = "import sys\nprint('{path}:1: planted failure')\nsys.exit(1)\n"
    _script(workspace, "check_doc_toc", 'PATH_TO_TOC = "docs/source/en/_toctree.yml"\n' + failing)
    _script(
        workspace,
        "check_support_list",
        '{"doc_path": "docs/source/en/api/activations.md", "src_path": "src/diffusers/models/activations.py"}\n'
        + failing,
    )
    _script(workspace, "check_dummies", failing)
    run_git(workspace, "add", "utils")
    run_git(workspace, "commit", "-q", "-m", "upstream scripts")
    plant_unformatted(workspace)  # a scheduler: none of the three reads it
    checkout = Checkout.find(workspace)

    result = run_quality(checkout, QualityRequest(checks=["upstream"]))
    summary = {s.check: s for s in result.summary}
    for name in ("check_doc_toc", "check_support_list", "check_dummies"):
        assert summary[f"upstream/{name}"].status == "skipped", summary[f"upstream/{name}"]
        assert "touches none of the files it reads" in summary[f"upstream/{name}"].detail

    activations = workspace / "src/diffusers/models/activations.py"
    activations.write_text(activations.read_text() + "\n")
    dummies = workspace / "src/diffusers/utils/dummy_pt_objects.py"
    dummies.write_text(dummies.read_text() + "\n")
    result = run_quality(checkout, QualityRequest(checks=["upstream"]))
    status = {s.check: s.status for s in result.summary}
    assert status["upstream/check_doc_toc"] == "skipped"
    assert status["upstream/check_support_list"] != "skipped" and status["upstream/check_dummies"] != "skipped"
    everything = run_quality(checkout, QualityRequest(scope="all", checks=["upstream"]))
    assert not [s for s in everything.summary if s.status == "skipped"]
