"""The issue's acceptance: planted faults are each found at their file:line, and `fix=true` leaves the tree clean."""

from __future__ import annotations

from pathlib import Path

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality import QualityRequest, run_quality
from diffusers_integrator.quality.registration import NOT_AVAILABLE, available
from diffusers_integrator.testing.trees import run_git

from .plant import (
    MODEL_PATH,
    PKG,
    STALE_COPY_PATH,
    UNSORTED_PATH,
    add_docs,
    line_of,
    plant_docs_page,
    plant_model,
    plant_pipeline,
    plant_stale_copy,
    plant_unformatted,
    plant_unsorted,
)


def _plant_all(root: Path) -> set[tuple[str, str, int]]:
    add_docs(root)
    model = plant_model(root)
    expected = {
        ("F401", *astuple(model["unused-import"])),
        ("einops", *astuple(model["einops"])),
        ("torch-empty-init", *astuple(model["torch-empty-init"])),
        ("float64", *astuple(model["float64"])),
        ("format", *astuple(plant_unformatted(root))),
        ("I001", *astuple(plant_unsorted(root))),
        ("copy-mismatch", *astuple(plant_stale_copy(root))),
        ("toctree-missing", *astuple(plant_docs_page(root))),
        ("missing-no-grad", *astuple(plant_pipeline(root))),
    }
    return expected


def astuple(spot) -> tuple[str, int]:
    return spot.path, spot.line


def test_every_planted_fault_is_found_at_its_line_and_nothing_else(workspace: Path) -> None:
    expected = _plant_all(workspace)

    result = run_quality(Checkout.find(workspace))

    found = {(f.code, f.path, f.line) for f in result.findings}
    assert found == expected
    by_check = {s.check: s for s in result.summary}
    assert by_check["ruff-check"].findings == 2 and by_check["ruff-format"].findings == 1
    assert by_check["copies"].status == "failed" and by_check["toctree"].status == "failed"
    assert result.ruff is not None and result.ruff.version == result.ruff.pinned == "0.9.10"
    assert not result.ok
    assert (workspace / result.log_file).is_file()
    log = (workspace / result.log_file).read_text()
    assert all(f"{path}:{line}" in log for _, path, line in expected)


def test_fix_leaves_only_what_no_tool_can_decide(workspace: Path) -> None:
    expected = _plant_all(workspace)
    checkout = Checkout.find(workspace)

    fixed = run_quality(checkout, QualityRequest(fix=True))

    # What remains is exactly the review findings a human must rewrite (lines moved up: `import os` is gone).
    manual = {
        ("einops", MODEL_PATH, line_of(workspace, MODEL_PATH, "from einops import")),
        ("torch-empty-init", MODEL_PATH, line_of(workspace, MODEL_PATH, "torch.empty")),
        ("float64", MODEL_PATH, line_of(workspace, MODEL_PATH, "torch.float64")),
        next(item for item in expected if item[0] == "missing-no-grad"),
    }
    assert "import os" not in (workspace / MODEL_PATH).read_text()
    assert {(f.code, f.path, f.line) for f in fixed.findings} == manual
    assert all(not f.fixable for f in fixed.findings)
    changed = {item.path: item.by for item in fixed.fixed}
    assert changed[STALE_COPY_PATH] == ["copies"]
    assert changed[UNSORTED_PATH] == ["ruff-check"]
    assert "docs/source/en/_toctree.yml" in changed
    # The copy and the imports are back to upstream's bytes; the new helper is formatted.
    assert run_git(workspace, "diff", "--stat", "--", STALE_COPY_PATH, UNSORTED_PATH) == ""
    assert (
        'def planted_helper(value):\n    return {"value": value}\n'
        in (workspace / f"{PKG}/schedulers/scheduling_pndm.py").read_text()
    )
    toctree = (workspace / "docs/source/en/_toctree.yml").read_text()
    assert (
        "      - local: api/models/tiny_planted_transformer\n        title: TinyPlantedTransformer2DModel\n" in toctree
    )
    assert line_of(workspace, "docs/source/en/_toctree.yml", "tiny_planted") < line_of(
        workspace, "docs/source/en/_toctree.yml", "wan_transformer_3d"
    )

    again = run_quality(checkout)
    assert {(f.code, f.path, f.line) for f in again.findings} == manual
    assert again.fixed == []


def test_missing_dummy_goes_through_the_registry_engine(workspace: Path) -> None:
    dummies = f"{PKG}/utils/dummy_pt_objects.py"
    text = (workspace / dummies).read_text()
    entry = text.index("class AutoencoderKL(metaclass=DummyObject):")
    end = text.index("\n\nclass ", entry)
    (workspace / dummies).write_text(text[:entry] + text[end + 2 :])
    where = text[:entry].count("\n") + 1  # the line the entry was on, where it belongs again
    checkout = Checkout.find(workspace)

    result = run_quality(checkout, QualityRequest(checks=["registration", "dummies"]))

    summary = {s.check: s for s in result.summary}
    if not available():
        assert summary["dummies"].status == "skipped" and summary["dummies"].detail == NOT_AVAILABLE
        assert summary["registration"].detail == NOT_AVAILABLE
        assert result.findings == []
        return
    # Only what this change broke: the release's own registration quirks stay out of a scoped run.
    assert [(f.check, f.code, f.path, f.fixable) for f in result.findings] == [
        ("dummies", "dummy-missing", dummies, True)
    ]
    assert abs(result.findings[0].line - where) <= 1
    assert "AutoencoderKL" in result.findings[0].message

    fixed = run_quality(checkout, QualityRequest(checks=["registration", "dummies"], fix=True))

    assert fixed.ok and [item.path for item in fixed.fixed] == [dummies]
    assert (workspace / dummies).read_text() == text


def test_registrations_are_not_rechecked_when_the_change_cannot_affect_them(workspace: Path) -> None:
    plant_unsorted(workspace)
    plant_model(workspace)

    result = run_quality(Checkout.find(workspace), QualityRequest(checks=["registration", "dummies"]))

    assert result.ok
    assert all(s.status == "skipped" for s in result.summary)
    if available():
        assert "touches no init, dummy file or top-level definition" in result.summary[0].detail
