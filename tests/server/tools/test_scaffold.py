"""The scaffold tool through a real MCP client, and the `scaffold` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.cli import main
from diffusers_integrator.scaffold import ScaffoldRequest, compact_result, scaffold
from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ...scaffold.conftest import git_status


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_dry_run_needs_no_approval_but_a_real_run_does(workspace: Path, mode: str) -> None:
    server = build_server(ServerOptions(checkout=workspace, require_approval=True))
    async with Client(server, mode=mode) as client:
        preview = await call(client, "scaffold", {"model_name": "Foo", "pipeline": "standard", "dry_run": True})
        refusal = await call_error(client, "scaffold", {"model_name": "Foo", "pipeline": "standard"})
    assert preview["dry_run"] is True
    assert preview["names"]["transformer"] == "FooTransformer2DModel"
    assert [p["class_name"] for p in preview["names"]["pipelines"]] == ["FooPipeline"]
    assert "confirm_plan" in refusal
    assert git_status(workspace) == ""


@pytest.mark.anyio
async def test_real_run_and_collision_through_the_client(workspace: Path) -> None:
    server = build_server(ServerOptions(checkout=workspace, require_approval=False))
    async with Client(server, mode="legacy") as client:
        result = await call(client, "scaffold", {"model_name": "Foo", "dims": "3d", "pipeline": "modular"})
        clash = await call_error(client, "scaffold", {"model_name": "Wan", "dims": "3d"})
    assert "FooModularPipeline" in result["registered"]
    assert {f["action"] for f in result["files"]} >= {"created", "modified"}
    assert all(item["skill"].split("#")[0].endswith(".md") for item in result["checklist"])
    # The full diff is long: it went to a file under the state dir, and the result stays small.
    assert result["diff_file"] == ".diffusers-integrator/scaffold/foo.diff"
    assert len(json.dumps(result)) < 40_000
    assert "+class FooTransformer3DModel(" in (workspace / result["diff_file"]).read_text()
    assert "WanTransformer3DModel is already defined" in clash


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
