"""Scopes agree with each other, and review rules judge only the code the change adds."""

from __future__ import annotations

import shutil
from pathlib import Path

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality import QualityRequest, run_quality

from .plant import PKG, line_of, plant_model, plant_pipeline, plant_unsorted


EMBEDDINGS = f"{PKG}/models/embeddings.py"


def test_existing_float64_is_not_blamed_on_the_change(workspace: Path) -> None:
    # embeddings.py already uses torch.float64 (RoPE precision); the change adds one more use.
    assert "torch.float64" in (workspace / EMBEDDINGS).read_text()
    with (workspace / EMBEDDINGS).open("a") as handle:
        handle.write("\n\ndef planted_double(x):\n    return x.double()\n")

    result = run_quality(Checkout.find(workspace), QualityRequest(checks=["model-code"]))

    assert [(f.code, f.path, f.line) for f in result.findings] == [
        ("float64", EMBEDDINGS, line_of(workspace, EMBEDDINGS, "return x.double()"))
    ]


def test_full_and_scoped_runs_agree_on_the_touched_files(workspace: Path) -> None:
    plant_model(workspace)
    plant_pipeline(workspace)
    plant_unsorted(workspace)
    checkout = Checkout.find(workspace)

    scoped = run_quality(checkout)
    full = run_quality(checkout, QualityRequest(scope="all", max_findings=500))

    touched = set(scoped.files)
    assert scoped.findings and {f.path for f in scoped.findings} <= touched
    assert [f for f in full.findings if f.path in touched] == scoped.findings
    assert full.scope.startswith("all (") and scoped.scope == f"changed ({len(touched)} files)"


def test_explicit_paths_cover_files_and_folders(workspace: Path) -> None:
    spots = plant_model(workspace)
    unsorted = plant_unsorted(workspace)
    checkout = Checkout.find(workspace)

    folder = run_quality(checkout, QualityRequest(scope=[f"{PKG}/models/transformers"], checks=["ruff-check"]))
    assert {(f.path, f.line) for f in folder.findings} == {astuple(spots["unused-import"])}

    one = run_quality(checkout, QualityRequest(scope=[unsorted.path], checks=["ruff-check", "model-code"]))
    assert [(f.path, f.line, f.code) for f in one.findings] == [(unsorted.path, unsorted.line, "I001")]


def astuple(spot) -> tuple[str, int]:
    return spot.path, spot.line


def test_without_git_changed_means_everything_and_says_so(workspace: Path) -> None:
    shutil.rmtree(workspace / ".git")
    spots = plant_model(workspace)

    result = run_quality(Checkout.find(workspace), QualityRequest(checks=["model-code"]))

    assert result.scope.startswith("all")
    assert any("not a git repository" in note for note in result.notes)
    codes = {(f.code, f.path) for f in result.findings}
    assert ("einops", spots["einops"].path) in codes
    # Outside git every line counts as new, so upstream's own unconditional float64 uses show up too (the
    # `.double()` of transformer_2d's log-softmax; its device-aware RoPE ones do not): the note explains it.
    assert any(f.path == f"{PKG}/models/transformers/transformer_2d.py" for f in result.findings)
    assert not any(f.path == EMBEDDINGS for f in result.findings)
