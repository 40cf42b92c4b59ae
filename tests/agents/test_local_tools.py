"""The runner's own tools: the editor writes only planned files of the checkout once a plan is approved, views
the reference without writing it; the test runner runs pytest on named paths, after approval, without secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from anthropic.lib.tools import ToolError

from diffusers_integrator.agents.local_tools import (
    EDITOR_NAME,
    EDITOR_TYPE,
    ConfinedEditor,
    clean_environment,
    make_test_runner,
)
from diffusers_integrator.checkout import Checkout
from diffusers_integrator.errors import IntegratorError

from .helpers import PLANTED_KEY


class Gate:
    """The server's answer about the plan, as `PlanGate` gives it: approved files, or the refusal."""

    def __init__(self, files: list[str] | None):
        self.files = files

    async def approved_files(self, action: str) -> set[str]:
        if self.files is None:
            raise IntegratorError(f"{action}, and no plan has been approved in this session.", "Call confirm_plan.")
        return set(self.files)


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    folder = tmp_path / "reference"
    folder.mkdir()
    (folder / "model.py").write_text("class Model:\n    pass\n")
    return folder


@pytest.mark.anyio
async def test_the_editor_is_anthropics_text_editor_and_edits_planned_files(checkout: Checkout) -> None:
    editor = ConfinedEditor(checkout, Gate(["notes/a.md"]))
    assert editor.to_dict()["type"] == EDITOR_TYPE and editor.name == EDITOR_NAME
    assert (
        await editor.call({"command": "create", "path": "notes/a.md", "file_text": "one\ntwo\n"})
        == "created notes/a.md"
    )
    assert await editor.call({"command": "str_replace", "path": "notes/a.md", "old_str": "two", "new_str": "three"})
    assert await editor.call({"command": "insert", "path": "notes/a.md", "insert_line": 1, "insert_text": "1.5"})
    assert (checkout.root / "notes/a.md").read_text() == "one\n1.5\nthree\n"
    view = await editor.call({"command": "view", "path": "notes/a.md", "view_range": [2, -1]})
    assert view == "     2\t1.5\n     3\tthree"
    assert "notes/" in await editor.call({"command": "view", "path": "."})
    with pytest.raises(ToolError, match="occurs 0 times"):
        await editor.call({"command": "str_replace", "path": "notes/a.md", "old_str": "four", "new_str": "five"})
    working = ".diffusers-integrator/specs/x.py"
    assert await editor.call({"command": "create", "path": working, "file_text": "x = 1\n"}) == f"created {working}"


@pytest.mark.anyio
async def test_the_editor_refuses_before_approval_outside_the_plan_and_outside_the_tree(checkout: Checkout) -> None:
    with pytest.raises(ToolError, match="no plan has been approved"):
        await ConfinedEditor(checkout, Gate(None)).call({"command": "create", "path": "a.md", "file_text": "x"})
    editor = ConfinedEditor(checkout, Gate(["a.md"]))
    with pytest.raises(ToolError, match="not a file of the approved plan"):
        await editor.call({"command": "create", "path": "setup.py", "file_text": "x"})
    with pytest.raises(ToolError, match=r"outside|\.\."):
        await editor.call({"command": "create", "path": "../escape.md", "file_text": "x"})
    with pytest.raises(ToolError, match="Unknown command"):
        await editor.call({"command": "undo_edit", "path": "a.md"})
    assert not (checkout.root / "a.md").exists() and not (checkout.root.parent / "escape.md").exists()


@pytest.mark.anyio
async def test_the_reference_is_readable_never_writable_and_a_viewer_only_views(
    checkout: Checkout, reference: Path
) -> None:
    editor = ConfinedEditor(checkout, Gate(["a.md"]), readable=[reference])
    assert "class Model" in await editor.call({"command": "view", "path": str(reference / "model.py")})
    with pytest.raises(ToolError, match="outside the checkout"):
        await editor.call({"command": "create", "path": str(reference / "model.py"), "file_text": "x"})
    with pytest.raises(ToolError, match="outside the checkout"):
        await editor.call({"command": "view", "path": str(reference.parent / "elsewhere.txt")})
    viewer = ConfinedEditor(checkout, None, readable=[reference])
    with pytest.raises(ToolError, match="only views"):
        await viewer.call({"command": "create", "path": "a.md", "file_text": "x"})
    assert (reference / "model.py").read_text() == "class Model:\n    pass\n"


@pytest.mark.anyio
async def test_the_test_runner_runs_named_tests_after_approval(checkout: Checkout) -> None:
    test = checkout.root / "tests" / "agent_check" / "test_ok.py"
    test.parent.mkdir(parents=True)
    test.write_text("def test_ok():\n    assert True\n\ndef test_other():\n    assert True\n")
    runner = make_test_runner(checkout, Gate(["x"]))
    report = await runner.call({"paths": ["tests/agent_check/test_ok.py"], "keyword": "other"})
    assert report.startswith("passed: tests/agent_check/test_ok.py") and "1 passed, 1 deselected" in report
    with pytest.raises(ToolError, match="No test path"):
        await runner.call({"paths": ["tests/nothing_here.py"]})
    with pytest.raises(ToolError, match="no plan has been approved"):
        await make_test_runner(checkout, Gate(None)).call({"paths": ["tests/agent_check"]})


def test_child_processes_get_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("SOME_TOKEN", "a-long-secret-token-value")
    environment = clean_environment({"PYTHONPATH": "src"})
    assert "ANTHROPIC_API_KEY" not in environment and "SOME_TOKEN" not in environment
    assert environment["PYTHONPATH"] == "src" and environment["PATH"] == os.environ["PATH"]
