"""Eval cases as data: loading, `extends` + `patch`, `$ref` resolution, the replayed assistant and its editor."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai.model import ChatMessageTool, ChatMessageUser

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.evals.cases import load_case, load_cases
from diffusers_integrator.evals.checks import CHECKS
from diffusers_integrator.evals.replay import Replayer, _edit, resolve


def test_every_shipped_case_loads_and_every_fault_names_real_checks() -> None:
    cases = load_cases()
    assert {case.kind for case in cases} >= {"integration", "planted-fault"}
    for case in cases:
        assert set(case.lowers) <= set(CHECKS), case.id
        assert (case.kind == "planted-fault") == bool(case.lowers), case.id


def test_a_fault_is_its_parent_with_the_patch_applied() -> None:
    parent = load_case(load_cases(["tinydit"])[0].folder)
    fault = load_cases(["fault-process-no-questions"])[0]
    tools = [turn.tool for turn in parent.turns]
    expected = list(tools)
    expected.remove("ask_user_question")
    expected.remove("record_answer")  # the first one: the answers to the questions
    assert [turn.tool for turn in fault.turns] == expected
    assert fault.expect.names == parent.expect.names and fault.expect.tests == []


def _case(tmp_path: Path, text: str, name: str = "case") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "case.yaml").write_text(text)
    return folder


def test_a_patch_that_names_a_missing_call_is_a_clear_error(tmp_path: Path) -> None:
    _case(tmp_path, "title: base\nprompt: p\nturns:\n  - tool: inspect_checkout\n", "base")
    child = _case(tmp_path, "extends: base\ntitle: t\npatch:\n  - {op: drop, tool: scaffold}\n", "child")
    with pytest.raises(IntegratorError, match="0 call"):
        load_case(child)


def test_refs_resolve_from_the_latest_result_and_a_missing_one_says_so() -> None:
    results = {"confirm_plan": {"plan_id": "plan-7", "files": ["a.py", "b.py"]}}
    assert resolve({"plan_id": {"$ref": "confirm_plan.plan_id"}, "x": [1]}, results) == {"plan_id": "plan-7", "x": [1]}
    assert resolve({"$ref": "confirm_plan.files.1"}, results) == "b.py"
    with pytest.raises(IntegratorError, match="no earlier result"):
        resolve({"$ref": "ask_user_question.question_set_id"}, results)


def test_the_replayer_plays_turns_follows_running_jobs_and_ends() -> None:
    case = load_cases(["tinydit"])[0]
    replayer = Replayer(case)
    first = replayer([ChatMessageUser(content="go")], [], "auto", None)
    assert first.message.tool_calls[0].function == case.turns[0].tool
    running = ChatMessageTool(content='{"job": {"job_id": "job-1", "state": "running"}}', function="run_parity")
    polled = replayer([running], [], "auto", None)
    assert polled.message.tool_calls[0].function == "job_status"
    assert polled.message.tool_calls[0].arguments["job_id"] == "job-1"
    assert replayer.position == 1, "following a job does not consume a recorded turn"
    replayer.position = len(case.turns)
    assert not replayer([running.model_copy(update={"content": "{}"})], [], "auto", None).message.tool_calls


def test_the_editor_stays_in_the_checkout_and_replaces_exactly_once(checkout: Checkout) -> None:
    assert _edit(checkout, "create", "notes/a.md", "one\ntwo\n", None, None) == "created notes/a.md"
    assert _edit(checkout, "str_replace", "notes/a.md", None, "two", "three") == "modified notes/a.md"
    assert (checkout.root / "notes/a.md").read_text() == "one\nthree\n"
    with pytest.raises(IntegratorError, match="occurs 0 times"):
        _edit(checkout, "str_replace", "notes/a.md", None, "four", "five")
    with pytest.raises(IntegratorError, match="outside|\\.\\."):
        _edit(checkout, "create", "../escape.md", "x", None, None)
    assert not (checkout.root.parent / "escape.md").exists()


def test_with_no_clone_an_unnamed_run_leaves_the_clone_cases_out_and_a_named_one_is_refused(monkeypatch) -> None:
    from diffusers_integrator.errors import IntegratorError
    from diffusers_integrator.evals.run import cases_to_run

    monkeypatch.delenv("DIFFUSERS_CLONE", raising=False)
    cases, left_out = cases_to_run(None)
    assert cases and all(case.base.source == "installed" for case in cases)
    assert left_out and all(case_id.startswith("strip-") for case_id in left_out)
    with pytest.raises(IntegratorError, match="DIFFUSERS_CLONE"):
        cases_to_run(["tinydit", "strip-pipeline-ddpm"])
    monkeypatch.setenv("DIFFUSERS_CLONE", "/a/clone")
    assert cases_to_run(["strip-pipeline-ddpm"]) == (load_cases(["strip-pipeline-ddpm"]), [])
