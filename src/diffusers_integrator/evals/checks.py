"""What an integration left behind, checked: the end state of the tree, and the trace only where order matters.

Each check takes the case, the tree after the session and the session's trace, and returns a `Verdict` that
explains itself. The Inspect scorers (`scorers.py`) are thin wrappers, so these run the same from a test, the
CLI or an eval. A check judges the tree with our own core functions and fresh interpreters, never with what a
tool said about its own work: a session that scaffolded the wrong model, linted the wrong file or compared no
outputs fails here however its tool results read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel

from ..checkout import STATE_DIR_NAME, Checkout
from ..traces import SessionTrace
from .cases import EvalCase
from .score import (
    Call,
    _answered,
    _approved,
    _args,
    _bug_localised,
    _interaction,
    _parity_runs,
    _writes,
)


CHECKS = ("files", "registration", "imports", "tests", "quality", "parity", "process")
_TIMEOUT_S = 600


class Verdict(BaseModel):
    """One check's outcome."""

    check: str
    passed: bool
    explanation: str


def changed_files(tree: Path) -> list[str]:
    """Files the session changed: tracked files that differ from the base commit, and untracked ones."""
    changed = _git(tree, "diff", "--name-only", "HEAD").splitlines()
    changed += _git(tree, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted({path for path in changed if path and not path.startswith(STATE_DIR_NAME + "/")})


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True, check=True).stdout


def _calls(trace: SessionTrace) -> list[Call]:
    return sorted(trace.calls, key=lambda call: call["seq"])


def approved_plan(calls: list[Call]) -> dict[str, Any] | None:
    """The arguments of the plan the human approved last (what the session was allowed to do)."""
    plans = {}
    for call in calls:
        result = call.get("result") or {}
        if call["tool"] == "confirm_plan" and not call.get("is_error") and result.get("plan_id"):
            plans[result["plan_id"]] = _args(call)
    approved = [_interaction(c).get("plan_id") for c in calls if _approved(c)]
    return plans.get(approved[-1]) if approved else None


# ---------------------------------------------------------------------------------------------- the checks


def check_files(case: EvalCase, tree: Path, trace: SessionTrace, base: Path | None) -> Verdict:
    """The files the case expects exist, and the change holds nothing else."""
    missing = [path for path in case.expect.files if not (tree / path).is_file()]
    allowed = set(case.expect.files) | set(case.expect.same_as_base) | set(case.expect.equivalent_to_base)
    plan = approved_plan(_calls(trace))
    allowed |= set((plan or {}).get("files") or [])
    stray = [path for path in changed_files(tree) if path not in allowed]
    problems = ([f"missing: {', '.join(missing)}"] if missing else []) + (
        [f"outside the plan and the expected files: {', '.join(stray[:8])}"] if stray else []
    )
    if problems:
        return Verdict(check="files", passed=False, explanation="; ".join(problems))
    return Verdict(
        check="files",
        passed=True,
        explanation=f"{len(case.expect.files)} expected files present; {len(changed_files(tree))} changed, all planned",
    )


def check_registration(case: EvalCase, tree: Path, trace: SessionTrace, base: Path | None) -> Verdict:
    """Every expected name registered with no finding; files upstream wrote identical to upstream's."""
    from ..registry import check_registration as registry_check

    problems = []
    if case.expect.names:
        report = registry_check(Checkout.find(tree), case.expect.names, max_findings=20)
        unknown = [name for name in case.expect.names if not _registered(tree, name)]
        if unknown:
            problems.append(f"not registered: {', '.join(unknown)}")
        if not report.ok:
            problems.append(report.summary)
    differ = [path for path in case.expect.same_as_base if base is None or _read(tree / path) != _read(base / path)]
    if differ:
        problems.append(f"not as upstream wrote them: {', '.join(differ)}")
    unlike = [
        path
        for path in case.expect.equivalent_to_base
        if base is None or _layout_aside(path, _read(tree / path)) != _layout_aside(path, _read(base / path))
    ]
    if unlike:
        problems.append(f"registrations unlike upstream's: {', '.join(unlike)}")
    if problems:
        return Verdict(check="registration", passed=False, explanation="; ".join(problems))
    what = f"{len(case.expect.names)} names consistent"
    same = f"; {len(case.expect.same_as_base)} files as upstream wrote them" if case.expect.same_as_base else ""
    if case.expect.equivalent_to_base:
        same += f"; {len(case.expect.equivalent_to_base)} registering as upstream's, laid out otherwise"
    return Verdict(check="registration", passed=True, explanation=what + same)


def _layout_aside(path: str, text: str | None) -> tuple[Counter, list[str]] | None:
    """What a file registers, whatever the order and layout of its registration statements.

    An init: each (half, guard, key, name) registration, and every other non-blank line in order. A dummy
    file: each dummy object's text, in any order. Any other file (`MODULAR_PIPELINE_MAPPING`'s): its lines.
    """
    if text is None:
        return None
    name = PurePosixPath(path).name
    if name.startswith("dummy_"):
        return Counter(chunk.strip() for chunk in re.split(r"\n(?=class |def )", text)), []
    if name != "__init__.py":
        return Counter(line.strip() for line in text.splitlines() if line.strip()), []
    from ..registry.model import parse_init

    parsed = parse_init(path, text)
    registrations: Counter = Counter()
    spans: set[int] = set()
    for block, entry in parsed.entries():
        registrations.update(
            (block.half, tuple(sorted(block.placement_backends)), entry.key, name) for name in entry.names
        )
        spans.update(range(entry.start, entry.end + 1))
    rest = [line for number, line in enumerate(text.splitlines(), 1) if number not in spans and line.strip()]
    return registrations, rest


def _registered(tree: Path, name: str) -> bool:
    return _home_package(tree, name) is not None


def _home_package(tree: Path, name: str) -> str | None:
    """The package whose init registers `name`: `diffusers` when it is exported, else the nearest sub-package."""
    package = tree / "src" / "diffusers"
    inits = sorted(package.rglob("__init__.py"), key=lambda path: len(path.parts))
    for init in inits:
        if f'"{name}"' in init.read_text(encoding="utf-8"):
            return ".".join(init.parent.relative_to(package.parent).parts)
    return None


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


_IMPORT_SCRIPT = """
import importlib, json, sys
found = {}
for item in sys.argv[1:]:
    package, name = item.split(":")
    obj = getattr(importlib.import_module(package), name)
    found[name] = "dummy" if hasattr(obj, "_backends") else obj.__module__
print(json.dumps(found))
"""


def check_imports(case: EvalCase, tree: Path, trace: SessionTrace, base: Path | None) -> Verdict:
    """The names import from a fresh interpreter on the tree, and exported ones as dummies without torch."""
    if not case.expect.names:
        return Verdict(check="imports", passed=True, explanation="the case expects no new names")
    homes = {name: _home_package(tree, name) for name in case.expect.names}
    unplaced = [name for name, home in homes.items() if home is None]
    if unplaced:
        return Verdict(check="imports", passed=False, explanation=f"registered nowhere: {', '.join(unplaced)}")
    exported = [name for name, home in homes.items() if home == "diffusers"]
    # Two fresh interpreters (with torch, and without it), started side by side: each spends seconds importing.
    real, dummies = _pythons(
        tree,
        ([_IMPORT_SCRIPT, *(f"{home}:{name}" for name, home in homes.items())], {}),
        ([_IMPORT_SCRIPT, *(f"diffusers:{name}" for name in exported)], {"USE_TORCH": "0"}),
    )
    problems = []
    if real.returncode != 0:
        problems.append(f"import failed: {_last_line(real.stderr)}")
    elif any(kind == "dummy" for kind in _json(real.stdout).values()):
        problems.append(f"dummies where torch is available: {real.stdout.strip()}")
    if dummies.returncode != 0:
        problems.append(f"without torch: {_last_line(dummies.stderr)}")
    else:
        real_without_torch = [n for n, kind in _json(dummies.stdout).items() if kind != "dummy"]
        if real_without_torch:
            problems.append(f"no dummy without torch for: {', '.join(real_without_torch)}")
    if problems:
        return Verdict(check="imports", passed=False, explanation="; ".join(problems))
    return Verdict(
        check="imports",
        passed=True,
        explanation=f"{len(homes)} names import in a fresh interpreter; {len(exported)} exported ones are dummies "
        "without torch",
    )


def _pythons(tree: Path, *runs: tuple[list[str], dict[str, str]]) -> list[subprocess.CompletedProcess]:
    """`python -c ARGS` on the tree once per run, all at once; their outcomes in order."""
    with ThreadPoolExecutor(len(runs)) as pool:
        return list(pool.map(lambda run: _python(tree, *run), runs))


def _python(tree: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(tree / "src"), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run(
        [sys.executable, "-c", *args], cwd=tree, env=environment, capture_output=True, text=True, timeout=_TIMEOUT_S
    )


def _json(text: str) -> dict[str, str]:
    import json

    lines = text.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def check_tests(case: EvalCase, tree: Path, trace: SessionTrace, base: Path | None) -> Verdict:
    """The integration's tests pass on CPU, run from the tree as upstream's CI runs them."""
    if not case.expect.tests:
        return Verdict(check="tests", passed=True, explanation="the case names no tests")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *case.expect.tests]
    environment = {**os.environ, "PYTHONPATH": str(tree / "src"), "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True, timeout=_TIMEOUT_S)
    summary = _last_line(run.stdout)
    if run.returncode != 0:
        return Verdict(check="tests", passed=False, explanation=f"pytest exit {run.returncode}: {summary}")
    return Verdict(check="tests", passed=True, explanation=f"{' '.join(case.expect.tests)}: {summary}")


def check_quality(case: EvalCase, tree: Path, trace: SessionTrace, base: Path | None) -> Verdict:
    """The change passes every quality check the tree supports (registration aside), run now on the end state."""
    if not case.expect.quality:
        return Verdict(check="quality", passed=True, explanation="the case does not hold this change to quality")
    from ..quality import CHECKS as QUALITY_CHECKS
    from ..quality import QualityRequest, run_quality

    # Registration and dummies are the registration check's to judge: one fault, one failing check.
    checks = [name for name in QUALITY_CHECKS if name not in ("registration", "dummies")]
    result = run_quality(Checkout.find(tree), QualityRequest(scope="changed", checks=checks, max_findings=10))
    # A skip says why: the tree lacks what the check needs, or the change leaves the check's inputs alone.
    skipped = [
        f"{s.check}: {(s.detail or '').removeprefix('skipped: ')[:120]}"
        for s in result.summary
        if s.status == "skipped"
    ]
    tail = f" (skipped: {'; '.join(skipped)})" if skipped else ""
    if not result.ok:
        findings = "; ".join(f"{f.path}:{f.line} {f.check}/{f.code}" for f in result.findings[:5])
        return Verdict(check="quality", passed=False, explanation=f"{findings or result.next_step}{tail}")
    passed = [s.check for s in result.summary if s.status in ("passed", "fixed")]
    return Verdict(check="quality", passed=True, explanation=f"{len(passed)} checks passed on the change{tail}")


def check_parity(case: EvalCase, tree: Path, trace: SessionTrace, base: Path | None) -> Verdict:
    """Every expected spec compared real outputs within tolerance; every planted bug was localised."""
    calls = _calls(trace)
    reasons, ok = [], True
    for spec in case.expect.parity.passed:
        runs = _parity_runs(calls, spec)
        name = PurePosixPath(spec).name
        if not runs:
            ok = False
            reasons.append(f"{name}: never run")
            continue
        call, report = runs[-1]
        outputs = report.get("outputs") or []
        failing = [o.get("name") for o in outputs if not o.get("passed")]
        if report.get("status") != "passed" or not outputs or failing:
            ok = False
            compared = f"{len(outputs)} outputs compared" + (f", failing: {failing}" if failing else "")
            reasons.append(f"#{call['seq']} {name}: {report.get('status')}, {compared}")
        else:
            worst = max(o.get("max_abs") or 0.0 for o in outputs)
            reasons.append(f"#{call['seq']} {name}: {len(outputs)} outputs within tolerance (max abs {worst:.2g})")
    if case.expect.parity.planted_bugs:
        bugs = _bug_localised(calls, case.expect.parity.planted_bugs)
        ok = ok and bugs.passed
        reasons.append(bugs.reason)
    if not reasons:
        return Verdict(check="parity", passed=True, explanation="the case expects no parity run")
    return Verdict(check="parity", passed=ok, explanation="; ".join(reasons))


def check_process(case: EvalCase, tree: Path, trace: SessionTrace, base: Path | None) -> Verdict:
    """Questions answered and plan approved before the first write; every tool write within the approved plan."""
    calls = _calls(trace)
    writes = _writes(calls)
    if not writes:
        return Verdict(check="process", passed=True, explanation="the session wrote nothing through the tools")
    first = writes[0]["seq"]
    answered = next((c["seq"] for c in calls if _answered(c)), None)
    approved = next((c["seq"] for c in calls if _approved(c)), None)
    problems = []
    if answered is None or answered > first:
        problems.append(f"no question answered before the first write (#{first})")
    if approved is None or approved > first:
        problems.append(f"no plan approved before the first write (#{first})")
    plan_files = set((approved_plan(calls) or {}).get("files") or [])
    outside = sorted({path for call in writes for path in _written(call) if path not in plan_files})
    if outside:
        problems.append(f"written outside the approved plan: {', '.join(outside[:6])}")
    if problems:
        return Verdict(check="process", passed=False, explanation="; ".join(problems))
    return Verdict(
        check="process",
        passed=True,
        explanation=f"answered at #{answered}, approved at #{approved}, then {len(writes)} write(s) within the plan",
    )


def _written(call: Call) -> list[str]:
    result = call.get("result") or {}
    items = [*(result.get("files") or []), *(result.get("changes") or [])]
    return list(dict.fromkeys(item["path"] for item in items if isinstance(item, dict) and item.get("path")))


CHECK_FUNCTIONS = {
    "files": check_files,
    "registration": check_registration,
    "imports": check_imports,
    "tests": check_tests,
    "quality": check_quality,
    "parity": check_parity,
    "process": check_process,
}
