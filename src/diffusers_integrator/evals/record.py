"""A live session becomes an eval case: its trace gives the tool calls, its tree the files the agent wrote itself.

Ids the server issued (`plan_id`, `question_set_id`, ...) become `$ref`s to the earlier result that held them,
since a replay gets new ones. `job_status` polls are dropped: how long work takes depends on the machine, and
the replay follows a running job by itself. Files changed in the tree that no tool wrote are the agent's own
edits (so are files a tool wrote and the agent changed afterwards); each becomes an `edit_file` turn, placed before the first call that began after the file was last
written, with its text stored under the case's `files/`. The expected end state is what the session achieved:
the changed files, the names it registered, its parity verdicts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from ..checkout import STATE_DIR_NAME, Checkout
from ..errors import IntegratorError
from ..traces import find_session, read_trace
from .cases import CASE_FILE, EDIT_TOOL, EndState, EvalCase, ParityExpectation, Turn
from .checks import changed_files
from .score import _parity_runs, _registered_names, _writes


# Result keys whose values the server invents per session: a replay must refer to them, not repeat them.
_ISSUED_KEYS = ("plan_id", "question_set_id", "job_id", "plan_digest")
_DROPPED_TOOLS = {"job_status"}


def record_case(
    checkout: Checkout, case_id: str, dest_root: Path, *, session: str | None = None, title: str = "", prompt: str = ""
) -> Path:
    """Writes `dest_root/<case_id>/case.yaml` (+ `files/`) from a session of `checkout`; returns the folder."""
    folder = dest_root / case_id
    if folder.exists():
        raise IntegratorError(f"{folder} exists.", "Pick another case name, or remove the folder first.")
    trace = read_trace(find_session(checkout, session))
    calls = sorted(trace.calls, key=lambda call: call["seq"])
    # A file a tool wrote is still the agent's own edit when it changed after that tool returned (the port written
    # into a scaffolded model file, a filled-in conversion script).
    written_by_tools: dict[str, float] = {}
    for call in _writes(calls):
        for path in _paths_written(call):
            written_by_tools[path] = _time(call["time"]) + (call.get("duration_ms") or 0.0) / 1000
    own_edits = [
        path
        for path in changed_files(checkout.root)
        if path not in written_by_tools or _mtime(checkout.root / path) > written_by_tools[path]
    ]
    # Parity specs live in the state folder, which is no part of the change, but the agent wrote them.
    specs = checkout.state_dir / "specs"
    own_edits += sorted(p.relative_to(checkout.root).as_posix() for p in specs.rglob("*.py")) if specs.is_dir() else []

    turns: list[Turn] = []
    issued: dict[str, tuple[str, str]] = {}  # value -> (tool, key path)
    edits = sorted(own_edits, key=lambda path: (checkout.root / path).stat().st_mtime)
    for call in calls:
        started = _time(call["time"])
        while edits and _mtime(checkout.root / edits[0]) < started:
            turns.append(_edit_turn(checkout, folder, edits.pop(0)))
        if call["tool"] in _DROPPED_TOOLS:
            _remember(issued, call)
            continue
        turns.append(Turn(tool=call["tool"], arguments=_with_refs(call.get("arguments") or {}, issued)))
        _remember(issued, call)
    turns += [_edit_turn(checkout, folder, path) for path in edits]
    turns.append(Turn(say="Done: the integration is in place, checked and proven against the reference."))

    case = EvalCase(
        id=case_id,
        title=title or f"Recorded from session {trace.session_id}",
        prompt=prompt or "Integrate the model described in the plan into this diffusers checkout.",
        turns=turns,
        expect=EndState(
            files=changed_files(checkout.root),
            names=_registered_names(calls),
            parity=_parity_expectation(calls),
        ),
    )
    folder.mkdir(parents=True, exist_ok=True)
    data = case.model_dump(mode="json", exclude_defaults=True, exclude={"folder"})
    (folder / CASE_FILE).write_text(yaml.safe_dump(data, sort_keys=False, width=118), encoding="utf-8")
    return folder


def _paths_written(call: dict[str, Any]) -> list[str]:
    result = call.get("result") or {}
    items = [*(result.get("files") or []), *(result.get("changes") or [])]
    return list(dict.fromkeys(item["path"] for item in items if isinstance(item, dict) and item.get("path")))


def _edit_turn(checkout: Checkout, folder: Path, path: str) -> Turn:
    # The state folder ignores itself in git, so a case stores what the agent wrote there under `state/`.
    name = "state/" + path.removeprefix(STATE_DIR_NAME + "/") if path.startswith(STATE_DIR_NAME + "/") else path
    stored = folder / "files" / name
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text((checkout.root / path).read_text(encoding="utf-8"), encoding="utf-8")
    return Turn(tool=EDIT_TOOL, arguments={"command": "create", "path": path, "content_file": name})


def _time(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def _remember(issued: dict[str, tuple[str, str]], call: dict[str, Any]) -> None:
    """Notes every id-like value in the call's result, with where a replay will find it."""

    def walk(value: Any, path: list[str]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in _ISSUED_KEYS and isinstance(item, str):
                    issued[item] = (call["tool"], ".".join([*path, key]))
                walk(item, [*path, key])

    walk(call.get("result"), [])


def _with_refs(value: Any, issued: dict[str, tuple[str, str]]) -> Any:
    if isinstance(value, str) and value in issued:
        tool, path = issued[value]
        return {"$ref": f"{tool}.{path}"}
    if isinstance(value, dict):
        return {key: _with_refs(item, issued) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_refs(item, issued) for item in value]
    return value


def _parity_expectation(calls: list[dict[str, Any]]) -> ParityExpectation:
    passed, bugs = [], {}
    specs = {str((call.get("arguments") or {}).get("spec")) for call in calls if call["tool"] == "run_parity"}
    for spec in sorted(specs):
        runs = _parity_runs(calls, spec)
        if not runs:
            continue
        report = runs[-1][1]
        divergence = (report.get("localization") or {}).get("first_divergence") or {}
        culprit = divergence.get("culprit") or divergence.get("module")
        if report.get("status") == "passed":
            passed.append(spec)
        elif report.get("status") == "failed" and culprit:
            bugs[spec] = [culprit]
    return ParityExpectation(passed=passed, planted_bugs=bugs)
