"""What a scaffold returns: short diffs kept inline, checklist items that point at real skill sections, and
the `scaffold` CLI that prints it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.cli import main
from diffusers_integrator.scaffold import ScaffoldRequest, compact_result, scaffold

from .conftest import git_status


def test_compact_result_keeps_short_diffs_inline(workspace: Path) -> None:
    checkout = Checkout.find(workspace)
    result = scaffold(checkout, ScaffoldRequest(model_name="Foo", pipeline="none", dry_run=True))
    assert compact_result(checkout, result, budget=10_000_000) is result
    slim = compact_result(checkout, result, budget=100)
    assert slim.diff_file and all(change.diff == "" for change in slim.changes)


def test_checklist_points_at_existing_skill_sections(workspace: Path) -> None:
    from diffusers_integrator.data import data_dir
    from diffusers_integrator.scaffold.checklist import slug

    result = scaffold(
        Checkout.find(workspace),
        ScaffoldRequest(
            model_name="Foo", tasks=["text2image", "image2image"], pipeline="both", lora=True, dry_run=True
        ),
    )
    skills = data_dir("skills")
    for item in result.checklist:
        path, _, anchor = item.skill.partition("#")
        text = (skills / path).read_text()
        assert anchor, f"{item.skill} has no section"
        assert anchor in {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}, item.skill


def test_cli_dry_run_prints_names_and_diffs(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "scaffold",
            "My Model",
            "--dims",
            "3d",
            "--tasks",
            "text2video",
            "image2video",
            "--pipeline",
            "standard",
            "--dry-run",
            "--checkout",
            str(workspace),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "transformer: MyModelTransformer3DModel" in out
    assert "pipelines: MyModelPipeline, MyModelImageToVideoPipeline" in out
    assert "+++ b/src/diffusers/pipelines/my_model/pipeline_my_model_image2video.py" in out
    assert "Now fill in:" in out and "read: integrating-models/" in out
    assert git_status(workspace) == ""


def test_cli_json_and_refusal(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scaffold", "Foo", "--pipeline", "none", "--json", "--checkout", str(workspace)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["registered"] == ["FooTransformer2DModel"]
    assert main(["scaffold", "Flux", "--pipeline", "none", "--checkout", str(workspace)]) == 2
    assert "FluxTransformer2DModel is already defined" in capsys.readouterr().err
