"""Grade one integration session from its trace: what the integrating-models skill requires, made checkable.

The scorer reads only the trace (`.diffusers-integrator/sessions/<id>.jsonl`), never the tree, so a recorded
session can be graded anywhere, any number of times, and the grade explains itself: every criterion passes or
fails with a reason that names the calls (by `#seq`) it rests on.

The criteria:

* `questions_before_write` — the human answered a question set before the first write;
* `plan_before_write` — the human approved a plan before the first write;
* `writes_after_approval` — every write that took effect ran under an approved plan (writes the gate refused
  are reported, not held against the session: the gate did its job);
* `registration_consistent` — `check_registration` on the names the session registered, after its last write,
  found nothing;
* `quality_clean` — the last `make_quality` after the last write found nothing in the change;
* `parity_passed` — each spec expected to pass did (only when `Expectations.parity_pass` names some);
* `bug_localised` — each spec with a planted bug failed and blamed an expected module (only when
  `Expectations.parity_bugs` names some).

A write is a call of a tool the server gates (its trace line carries a `write` interaction), `scaffold`,
`register_lazy_import` or `unregister_lazy_import` without `dry_run`, or `make_quality` with `fix=true`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, Field

from ..traces import SessionTrace, read_trace


WRITE_TOOLS = frozenset({"scaffold", "register_lazy_import", "unregister_lazy_import"})
Call = dict[str, Any]


class Expectations(BaseModel):
    """What a session should have achieved, beyond the process rules every session is held to."""

    names: list[str] | None = Field(
        default=None, description="Names whose registration must check clean (default: every name it registered)."
    )
    parity_pass: list[str] = Field(default_factory=list, description="Parity specs that must pass.")
    parity_bugs: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Specs with a planted bug → the candidate modules a correct localisation may blame "
        "(a module matches itself and its submodules).",
    )


class Criterion(BaseModel):
    """One graded rule."""

    id: str
    title: str
    passed: bool
    reason: str
    evidence: list[int] = Field(default_factory=list, description="The trace lines (`seq`) it rests on.")


class Scorecard(BaseModel):
    """The grade of one session."""

    session_id: str
    trace: str
    calls: int
    criteria: list[Criterion]
    passed: int
    total: int
    score: float = Field(description="passed / total, 0..1.")
    full: bool = Field(description="Every criterion passed.")


# ---------------------------------------------------------------------------------------------- reading the trace


def _args(call: Call) -> dict[str, Any]:
    return call.get("arguments") or {}


def _interaction(call: Call) -> dict[str, Any]:
    return call.get("interaction") or {}


def _is_write(call: Call) -> bool:
    if call["tool"] == "make_quality":
        return bool(_args(call).get("fix"))
    return _interaction(call).get("kind") == "write" or call["tool"] in WRITE_TOOLS


def _is_dry_run(call: Call) -> bool:
    result = call.get("result")
    return bool(_args(call).get("dry_run")) or (isinstance(result, dict) and result.get("dry_run") is True)


def _writes(calls: list[Call]) -> list[Call]:
    """Writes that took effect: gated tools that succeeded, dry runs left out."""
    return [c for c in calls if _is_write(c) and not c.get("is_error") and not _is_dry_run(c)]


def _refused_writes(calls: list[Call]) -> list[Call]:
    return [c for c in calls if _is_write(c) and c.get("is_error") and not _is_dry_run(c)]


def _answered(call: Call) -> bool:
    interaction = _interaction(call)
    return not call.get("is_error") and interaction.get("kind") == "answers" and bool(interaction.get("answers"))


def _approved(call: Call) -> bool:
    interaction = _interaction(call)
    return (
        not call.get("is_error")
        and interaction.get("kind") == "approval"
        and interaction.get("plan_status") == "approved"
    )


def _where(call: Call) -> str:
    return f"#{call['seq']} {call['tool']}"


def _results(calls: list[Call], tool: str) -> Iterator[tuple[Call, dict[str, Any]]]:
    """(the call that started it, its result) for every finished run of a long tool, job_status included.

    A long tool returns `{"result": ...}` when it finished in time, else `{"job": {"job_id": ...}}`, and the
    result arrives later in a `job_status` call; both are resolved back to the call that started the work.
    """
    started: dict[str, Call] = {}
    for call in calls:
        result = call.get("result")
        if call.get("is_error") or not isinstance(result, dict):
            continue
        if call["tool"] == tool:
            if isinstance(result.get("result"), dict):
                yield call, result["result"]
            elif isinstance(result.get("job"), dict) and result["job"].get("job_id"):
                started[result["job"]["job_id"]] = call
        elif call["tool"] == "job_status" and isinstance(result.get("result"), dict):
            job_id = (result.get("job") or {}).get("job_id")
            if job_id in started:
                yield started[job_id], result["result"]


def _registered_names(calls: list[Call]) -> list[str]:
    names: dict[str, None] = {}
    for call in _writes(calls):
        result = call.get("result") or {}
        if call["tool"] == "scaffold":
            names.update(dict.fromkeys(result.get("registered") or []))
        elif call["tool"] == "register_lazy_import":
            names.update(dict.fromkeys(item["name"] for item in result.get("names") or []))
        elif call["tool"] == "unregister_lazy_import":
            for name in result.get("removed") or []:
                names.pop(name, None)
    return list(names)


def _same_spec(recorded: str, expected: str) -> bool:
    a, b = (PurePosixPath(p.replace("\\", "/")).as_posix().removeprefix("./") for p in (recorded, expected))
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def _module_matches(module: str, expected: str) -> bool:
    return module == expected or module.startswith(expected + ".")


# ---------------------------------------------------------------------------------------------- criteria


def _before_first_write(
    calls: list[Call], key: str, title: str, settled: Any, what: str, missing_fix: str
) -> Criterion:
    writes = _writes(calls)
    first_write = writes[0] if writes else None
    settle = next((c for c in calls if settled(c)), None)
    if settle is None:
        wrote = f"; first write: {_where(first_write)}" if first_write else ""
        return Criterion(
            id=key, title=title, passed=False, reason=f"no {what} in the session ({missing_fix}){wrote}", evidence=[]
        )
    interaction = _interaction(settle)
    via = interaction.get("via") or "form"
    subject = interaction.get("question_set_id") or interaction.get("plan_id") or "?"
    if first_write is None:
        return Criterion(
            id=key,
            title=title,
            passed=True,
            reason=f"{subject} {what} at #{settle['seq']} (via {via}); the session wrote nothing",
            evidence=[settle["seq"]],
        )
    in_order = settle["seq"] < first_write["seq"]
    relation = "before" if in_order else "only after"
    return Criterion(
        id=key,
        title=title,
        passed=in_order,
        reason=f"{subject} {what} at #{settle['seq']} (via {via}), {relation} the first write ({_where(first_write)})",
        evidence=[settle["seq"], first_write["seq"]],
    )


def _questions_before_write(calls: list[Call]) -> Criterion:
    return _before_first_write(
        calls,
        "questions_before_write",
        "questions answered before the first write",
        _answered,
        "answered",
        "ask_user_question, then record_answer when the form was not shown",
    )


def _plan_before_write(calls: list[Call]) -> Criterion:
    return _before_first_write(
        calls,
        "plan_before_write",
        "plan approved before the first write",
        _approved,
        "approved",
        "confirm_plan, then record_answer with the human's verdict when the form was not shown",
    )


def _writes_after_approval(calls: list[Call]) -> Criterion:
    approval = next((c for c in calls if _approved(c)), None)
    writes = _writes(calls)
    refused = _refused_writes(calls)
    unapproved = [
        c
        for c in writes
        if approval is None
        or c["seq"] < approval["seq"]
        # The server's own view of the gate, where the line records it.
        or (_interaction(c).get("kind") == "write" and not _interaction(c).get("approved_plan"))
    ]
    gate = f"; the gate refused {len(refused)} early write(s) ({', '.join(map(_where, refused))})" if refused else ""
    if unapproved:
        return Criterion(
            id="writes_after_approval",
            title="every write under an approved plan",
            passed=False,
            reason=f"{len(unapproved)} write(s) with no approved plan: {', '.join(map(_where, unapproved))}{gate}",
            evidence=[c["seq"] for c in unapproved],
        )
    plans = sorted({str(_interaction(c).get("approved_plan")) for c in writes if _interaction(c).get("approved_plan")})
    under = f" under {', '.join(plans)}" if plans else ""
    return Criterion(
        id="writes_after_approval",
        title="every write under an approved plan",
        passed=True,
        reason=f"{len(writes)} write(s), all{under} after #{approval['seq'] if approval else '?'}{gate}"
        if writes
        else f"the session wrote nothing{gate}",
        evidence=[c["seq"] for c in writes + refused],
    )


def _registration_consistent(calls: list[Call], names: list[str] | None) -> Criterion:
    key, title = "registration_consistent", "registration consistent for the new names"
    names = names if names is not None else _registered_names(calls)
    if not names:
        return Criterion(id=key, title=title, passed=False, reason="the session registered no names")
    writes = _writes(calls)
    after = writes[-1]["seq"] if writes else 0
    checks = [
        c
        for c in calls
        if c["tool"] == "check_registration"
        and not c.get("is_error")
        and c["seq"] > after
        and (_args(c).get("names") is None or set(names) <= set(_args(c)["names"]))
    ]
    if not checks:
        return Criterion(
            id=key,
            title=title,
            passed=False,
            reason=f"check_registration never checked {', '.join(names)} after the last write (#{after})",
        )
    last = checks[-1]
    result = last.get("result") or {}
    errors = [
        f"{f.get('code')} {f.get('name') or ''} in {f.get('path')}".strip()
        for f in result.get("findings") or []
        if f.get("severity", "error") == "error" and (f.get("name") is None or f.get("name") in names)
    ]
    ok = bool(result.get("ok")) and not errors
    reason = (
        f"#{last['seq']}: {len(names)} names consistent in {result.get('files_checked', '?')} files"
        if ok
        else f"#{last['seq']}: {result.get('total', len(errors))} finding(s): {'; '.join(errors[:4]) or result.get('summary')}"
    )
    return Criterion(id=key, title=title, passed=ok, reason=reason, evidence=[last["seq"]])


def _quality_clean(calls: list[Call]) -> Criterion:
    key, title = "quality_clean", "no quality findings in the change"
    writes = _writes(calls)
    after = writes[-1]["seq"] if writes else 0
    # A fix=true run is itself the last write: the run that reports after fixing counts.
    runs = [(c, r) for c, r in _results(calls, "make_quality") if c["seq"] >= after]
    if not runs:
        return Criterion(
            id=key, title=title, passed=False, reason=f"make_quality never ran after the last write (#{after})"
        )
    call, result = runs[-1]
    summary = result.get("summary") or []
    failed = [f"{s['check']}: {s['findings']}" for s in summary if s.get("status") == "failed" or s.get("findings")]
    codes: dict[str, int] = {}
    for finding in result.get("findings") or []:
        codes[f"{finding['check']}/{finding['code']}"] = codes.get(f"{finding['check']}/{finding['code']}", 0) + 1
    broken = [s["check"] for s in summary if s.get("status") == "broken"]
    skipped = [s["check"] for s in summary if s.get("status") == "skipped"]
    passed_checks = [s["check"] for s in summary if s.get("status") in ("passed", "fixed")]
    total = result.get("findings_total", sum(codes.values()))
    tail = (f"; skipped: {', '.join(skipped)}" if skipped else "") + (
        f"; upstream scripts broken (not the change): {', '.join(broken)}" if broken else ""
    )
    if total or failed:
        detail = ", ".join(f"{code} ×{n}" for code, n in sorted(codes.items())[:6]) or ", ".join(failed)
        return Criterion(
            id=key,
            title=title,
            passed=False,
            reason=f"#{call['seq']} ({result.get('scope')}): {total} finding(s): {detail}{tail}",
            evidence=[call["seq"]],
        )
    return Criterion(
        id=key,
        title=title,
        passed=True,
        reason=f"#{call['seq']} ({result.get('scope')}): {len(passed_checks)} checks passed{tail}",
        evidence=[call["seq"]],
    )


def _parity_runs(calls: list[Call], spec: str) -> list[tuple[Call, dict[str, Any]]]:
    return [(c, r) for c, r in _results(calls, "run_parity") if _same_spec(str(_args(c).get("spec", "")), spec)]


def _parity_passed(calls: list[Call], specs: list[str]) -> Criterion:
    key, title = "parity_passed", "parity passed on the clean port"
    reasons, evidence, ok = [], [], True
    for spec in specs:
        runs = _parity_runs(calls, spec)
        if not runs:
            ok = False
            reasons.append(f"{spec}: never run")
            continue
        call, report = runs[-1]
        evidence.append(call["seq"])
        worst = max((o.get("max_abs") or 0.0 for o in report.get("outputs") or []), default=None)
        numbers = f", max abs {worst:.2g}" if worst is not None else ""
        where = f"{report.get('device')}/{report.get('dtype')}"
        if report.get("status") == "passed":
            reasons.append(f"#{call['seq']} {PurePosixPath(spec).name}: passed on {where}{numbers}")
        else:
            ok = False
            first = (report.get("summary") or "").splitlines()[:1]
            reasons.append(
                f"#{call['seq']} {PurePosixPath(spec).name}: {report.get('status')}{numbers} {''.join(first)}"
            )
    return Criterion(id=key, title=title, passed=ok, reason="; ".join(reasons), evidence=evidence)


def _bug_localised(calls: list[Call], bugs: dict[str, list[str]]) -> Criterion:
    key, title = "bug_localised", "planted bug localised to the right module"
    reasons, evidence, ok = [], [], True
    for spec, modules in bugs.items():
        runs = _parity_runs(calls, spec)
        name = PurePosixPath(spec).name
        if not runs:
            ok = False
            reasons.append(f"{name}: never run")
            continue
        call, report = runs[-1]
        evidence.append(call["seq"])
        divergence = (report.get("localization") or {}).get("first_divergence") or {}
        culprit = divergence.get("culprit") or divergence.get("module")
        expected = " or ".join(modules)
        if report.get("status") != "failed":
            ok = False
            reasons.append(f"#{call['seq']} {name}: {report.get('status')}, but the planted bug should fail it")
        elif not culprit:
            ok = False
            reasons.append(f"#{call['seq']} {name}: failed with no first divergence (expected {expected})")
        elif any(_module_matches(culprit, m) for m in modules):
            reasons.append(
                f"#{call['seq']} {name}: failed, first divergence at {divergence.get('module')} "
                f"{divergence.get('where', '')}, culprit {culprit} (expected {expected})"
            )
        else:
            ok = False
            reasons.append(f"#{call['seq']} {name}: blamed {culprit}, expected {expected}")
    return Criterion(id=key, title=title, passed=ok, reason="; ".join(reasons), evidence=evidence)


# ---------------------------------------------------------------------------------------------- the scorer


def score_trace(trace: SessionTrace | Path | str, expectations: Expectations | None = None) -> Scorecard:
    """Grades a session trace (a `SessionTrace` or the path of its `.jsonl`) against the criteria above."""
    if not isinstance(trace, SessionTrace):
        trace = read_trace(Path(trace))
    expectations = expectations or Expectations()
    calls = sorted(trace.calls, key=lambda c: c["seq"])
    criteria = [
        _questions_before_write(calls),
        _plan_before_write(calls),
        _writes_after_approval(calls),
        _registration_consistent(calls, expectations.names),
        _quality_clean(calls),
    ]
    if expectations.parity_pass:
        criteria.append(_parity_passed(calls, expectations.parity_pass))
    if expectations.parity_bugs:
        criteria.append(_bug_localised(calls, expectations.parity_bugs))
    passed = sum(c.passed for c in criteria)
    return Scorecard(
        session_id=trace.session_id,
        trace=trace.path,
        calls=len(calls),
        criteria=criteria,
        passed=passed,
        total=len(criteria),
        score=round(passed / len(criteria), 4),
        full=passed == len(criteria),
    )


def render_scorecard(card: Scorecard) -> str:
    """A compact scorecard for a terminal: one line per criterion, then the score."""
    lines = [f"{'PASS' if c.passed else 'FAIL'}  {c.title:<44} {c.reason}" for c in card.criteria]
    lines.append(f"score {card.passed}/{card.total}" + (" (full)" if card.full else ""))
    return "\n".join(lines)


def scorecard_markdown(card: Scorecard) -> str:
    """The scorecard as a Markdown table (for reports)."""
    rows = [
        "| criterion | verdict | reason |",
        "|---|---|---|",
        *(
            f"| {c.title} (`{c.id}`) | {'pass' if c.passed else '**fail**'} | {c.reason.replace('|', '/')} |"
            for c in card.criteria
        ),
    ]
    return "\n".join([*rows, "", f"**Score: {card.passed}/{card.total}**" + (" (full)" if card.full else "")])
