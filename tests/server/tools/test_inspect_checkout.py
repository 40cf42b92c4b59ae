"""inspect_checkout through a real MCP client: the server's own checkout, read afresh on every call, and a bare
package told apart from a git clone. (A server without a tree, and the survey over stdio and HTTP, are in
test_app.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call


MODEL = "src/diffusers/models/transformers/transformer_foo.py"
MAKEFILE = "check_dirs := src\n\nquality:\n\truff check $(check_dirs)\n\nstyle:\n\truff format $(check_dirs)\n"


@pytest.mark.anyio
async def test_the_survey_follows_the_checkout_as_it_changes(workspace: Path) -> None:
    async with Client(build_server(ServerOptions(checkout=workspace)), mode="legacy") as client:
        before = await call(client, "inspect_checkout")
        (workspace / MODEL).write_text("class FooTransformer2DModel:\n    pass\n")
        (workspace / "Makefile").write_text(MAKEFILE)
        (workspace / "setup.py").write_text('_deps = ["ruff==0.9.10", "torch>=1.4"]\n')
        (workspace / "utils").mkdir()
        (workspace / "utils" / "check_dummies.py").write_text("")
        after = await call(client, "inspect_checkout")
    assert before["root"] == str(workspace.resolve()) and before["package"] == "src/diffusers"
    assert before["git"]["branch"] == "main" and before["git"]["changed"] == [] and not before["git"]["dirty"]
    assert before["helpers_present"] == {} and before["make_targets"] == [] and before["pinned_ruff"] is None
    assert after["counts"]["model_files"] == before["counts"]["model_files"] + 1
    assert after["git"]["dirty"] and MODEL in after["git"]["changed"]
    assert set(after["helpers_present"]) == {"Makefile", "setup.py", "utils/check_dummies.py"}
    assert "dummy-object" in after["helpers_present"]["utils/check_dummies.py"]
    assert "utils/check_copies.py" in after["helpers_missing"] and "Makefile" not in after["helpers_missing"]
    assert after["make_targets"] == ["quality", "style"] and after["pinned_ruff"] == "0.9.10"
    assert "confirm_plan" in after["next_step"]


@pytest.mark.anyio
async def test_a_bare_package_is_surveyed_as_a_package_outside_git(workspace: Path, tmp_path: Path) -> None:
    bare = tmp_path / "site"
    (workspace / "src").rename(bare)
    async with Client(build_server(ServerOptions(checkout=bare / "diffusers")), mode="legacy") as client:
        survey = await call(client, "inspect_checkout")
    assert survey["root"] == str(bare.resolve()) and survey["layout"] == "package" and survey["package"] == "diffusers"
    assert survey["git"]["is_repo"] is False and survey["git"]["head"] is None and survey["diffusers_version"]
    assert survey["counts"]["pipeline_packages"] > 50
