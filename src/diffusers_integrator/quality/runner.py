"""`make_quality`: run what the checkout gates on, scoped to the change, and answer in findings.

Order of work: discover what the tree offers, resolve the scope and the ruff to use, apply fixes when asked
(ruff → `# Copied from` → registration and dummies → toctree, the order `make style` then `make fix-copies`
would leave things in), then run every check in parallel on the result and write the full log. All writes go
through `Checkout`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkout import Checkout, FileChange
from ..checkout.offers import Offers, read_offers
from ..progress import ProgressFn
from ..redact import Scrubber
from . import copies, registration, rules, toctree
from .models import CHECKS, CheckSummary, Finding, FixedFile, QualityRequest, QualityResult, RuffUsed
from .ruff_bin import RuffBinary, find_ruff
from .ruff_checks import Ruff, shipped_config
from .scope import Scope, resolve_scope
from .upstream import run_script


LOG_DIR = "logs"
KEEP_LOGS = 20
_FILES_SHOWN = 30
_LOG_OUTPUT_CHARS = 200_000


@dataclass
class Outcome:
    """What one check produced."""

    summaries: list[CheckSummary]
    findings: list[Finding] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Context:
    checkout: Checkout
    scope: Scope
    offers: Offers
    ruff: Ruff | None
    ruff_note: str | None  # why ruff is missing


def run_quality(
    checkout: Checkout, request: QualityRequest | None = None, progress: ProgressFn | None = None
) -> QualityResult:
    """Runs the selected checks on the scope; with `fix`, under the checkout's writer lock from the first read of a
    file to fix until the checks that follow have read the fixed tree (whichever edge calls it)."""
    request = request or QualityRequest()
    with checkout.writing() if request.fix else contextlib.nullcontext():
        return _run_quality(checkout, request, progress)


def _run_quality(checkout: Checkout, request: QualityRequest, progress: ProgressFn | None) -> QualityResult:
    started = time.perf_counter()
    report = progress or (lambda done, total, message: None)
    selected = [name for name in CHECKS if request.checks is None or name in request.checks]
    offers = read_offers(checkout)
    scope = resolve_scope(checkout, request.scope)
    context = Context(checkout, scope, offers, None, None)
    binary = _ruff_binary(offers, selected)
    if binary is not None:
        own = offers.ruff_config is not None
        context.ruff = Ruff(checkout, binary, None if own else shipped_config())
    else:
        context.ruff_note = "no ruff could be found or installed; `pip install ruff` and retry"
    log = [
        f"make_quality {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"checkout: {checkout.root}",
        f"scope: {scope.label()}",
        f"offers: {offers.describe()}",
        f"ruff: {binary.path + ' ' + (binary.version or '?') + ' — ' + binary.note if binary else context.ruff_note}",
    ]
    fixed: dict[str, FixedFile] = {}
    commands: list[str] = []
    notes = list(scope.notes)
    if request.fix:
        report(0, None, "applying fixes")
        fix_log, fix_commands, fix_notes = _apply_fixes(context, selected, fixed)
        log += fix_log
        commands += fix_commands
        notes += fix_notes
        # The fixes may have touched files outside the scope (copies of a changed source): keep them in view.
        if scope.kind != "all":
            context.scope = resolve_scope(checkout, request.scope)
            _extend_scope(context.scope, fixed)
    runners = _runners(context, selected)
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(len(runners), 1)) as pool:
        futures = [pool.submit(_timed, name, runner) for name, runner in runners]
        for done, future in enumerate(futures, start=1):
            outcome = future.result()
            outcomes.append(outcome)
            report(done, len(futures), ", ".join(s.check for s in outcome.summaries) + " done")
    order = list(CHECKS)
    summaries = sorted(
        (summary for outcome in outcomes for summary in outcome.summaries),
        key=lambda s: (order.index(s.check.split("/")[0]), s.check),
    )
    findings = sorted(
        (finding for outcome in outcomes for finding in outcome.findings),
        key=lambda f: (f.path, f.line or 0, f.col or 0, f.check, f.code),
    )
    for outcome in outcomes:
        commands += outcome.commands
        notes += outcome.notes
        log += outcome.log
    if fixed:
        for summary in summaries:
            if any(summary.check in item.by for item in fixed.values()) and summary.status == "passed":
                summary.status = "fixed"
    if binary is not None and (not binary.matches_pin or offers.ruff_config is None):
        config = "" if offers.ruff_config else "; the checkout has no ruff config, so diffusers' settings were used"
        notes.insert(0, f"ruff: {binary.note}{config}")
    log += ["", f"== findings ({len(findings)})"] + [_finding_line(f) for f in findings]
    duration_ms = int((time.perf_counter() - started) * 1000)
    log.append(f"duration: {duration_ms} ms")
    log_file = _write_log(checkout, "\n".join(log) + "\n")
    shown = findings[: request.max_findings]
    broken = [s for s in summaries if s.status == "broken"]
    return QualityResult(
        ok=not findings and not broken,
        scope=scope.label() if scope.kind != "all" else f"all ({_count_all(context)} Python files)",
        files=scope.files[:_FILES_SHOWN],
        files_total=len(scope.files),
        summary=summaries,
        findings=shown,
        findings_total=len(findings),
        findings_omitted=len(findings) - len(shown),
        fixed=sorted(fixed.values(), key=lambda f: f.path),
        ruff=_ruff_used(binary, offers),
        commands=commands,
        notes=notes,
        duration_ms=duration_ms,
        log_file=log_file,
        next_step=_next_step(findings, broken, request.fix),
    )


# ---------------------------------------------------------------------------------------------- ruff


def _ruff_binary(offers: Offers, selected: list[str]) -> RuffBinary | None:
    needs = {"ruff-check", "ruff-format", "copies", "upstream"}
    return find_ruff(offers.pinned_ruff) if needs.intersection(selected) else None


def _ruff_used(binary: RuffBinary | None, offers: Offers) -> RuffUsed | None:
    if binary is None:
        return None
    return RuffUsed(
        version=binary.version,
        path=binary.path,
        pinned=binary.pinned,
        matches_pin=binary.matches_pin,
        note=binary.note,
        config=offers.ruff_config or "diffusers' settings shipped with diffusers-integrator (the checkout has none)",
    )


def _ruff_targets(context: Context) -> list[str]:
    scope, offers = context.scope, context.offers
    if scope.kind == "all":
        return offers.check_dirs or [context.checkout.package_rel]
    if scope.kind == "paths":
        return [r for r in scope.roots if r.endswith((".py", ".pyi")) or (context.checkout.root / r).is_dir()]
    dirs = offers.check_dirs or [context.checkout.package_rel]
    return [
        f
        for f in scope.files
        if f.endswith((".py", ".pyi")) and any(f == d or f.startswith(d.rstrip("/") + "/") for d in dirs)
    ]


def _copies_config(context: Context) -> Path | None:
    """What upstream's check_copies formats with: `--config pyproject.toml`, else our shipped settings."""
    own = context.offers.ruff_config
    return context.checkout.root / own if own else shipped_config()


# ---------------------------------------------------------------------------------------------- checks


def _runners(context: Context, selected: list[str]) -> list[tuple[str, Callable[[], Outcome]]]:
    table: dict[str, Callable[[], Outcome]] = {
        "ruff-check": lambda: _ruff_check(context),
        "ruff-format": lambda: _ruff_format(context),
        "copies": lambda: _copies(context),
        "toctree": lambda: _toctree(context),
        "model-code": lambda: _model_code(context),
        "pipeline-code": lambda: _pipeline_code(context),
        "upstream": lambda: _upstream(context, skip_copies="copies" in selected),
    }
    out = [(name, table[name]) for name in selected if name in table]
    if "registration" in selected or "dummies" in selected:
        wanted = [name for name in ("registration", "dummies") if name in selected]
        out.insert(2, ("registration", lambda: _registry(context, wanted)))
    # All start at once (one thread each), the in-process registry model first: it holds the GIL longest, while
    # ruff and the upstream scripts run in their own processes beside it.
    order = ["registration", "upstream", "copies", "ruff-format", "ruff-check"]
    return sorted(out, key=lambda item: order.index(item[0]) if item[0] in order else len(order))


def _timed(name: str, runner: Callable[[], Outcome]) -> Outcome:
    started = time.perf_counter()
    outcome = runner()
    elapsed = int((time.perf_counter() - started) * 1000)
    for summary in outcome.summaries:
        if not summary.duration_ms and summary.status != "skipped":
            summary.duration_ms = elapsed
        summary.findings = sum(1 for f in outcome.findings if f.check == summary.check)
        summary.fixable = sum(1 for f in outcome.findings if f.check == summary.check and f.fixable)
        if summary.status == "passed" and summary.findings:
            summary.status = "failed"
    return outcome


def _skipped(check: str, why: str) -> Outcome:
    return Outcome([CheckSummary(check=check, status="skipped", detail=why)])


def _ruff_check(context: Context) -> Outcome:
    return _ruff_run(context, "ruff-check", lambda ruff, targets: ruff.lint(targets))


def _ruff_format(context: Context) -> Outcome:
    return _ruff_run(context, "ruff-format", lambda ruff, targets: ruff.format_check(targets))


def _ruff_run(context: Context, check: str, run_on: Callable[[Ruff, list[str]], Any]) -> Outcome:
    """One ruff pass (lint or format check) over the scope, as one check's outcome."""
    if context.ruff is None:
        return _skipped(check, f"skipped: {context.ruff_note}")
    targets = _ruff_targets(context)
    if not targets:
        return Outcome([CheckSummary(check=check, status="passed", detail="no Python files in scope")])
    run = run_on(context.ruff, targets)
    summary = CheckSummary(
        check=check, status="passed", detail=f"ruff {context.ruff.binary.version} on {len(targets)} paths"
    )
    if run.error:
        summary.status, summary.detail = "broken", f"ruff failed: {run.error}"
    return Outcome(
        [summary], run.findings, [run.command], ["", f"== {check}", run.command, run.output[:_LOG_OUTPUT_CHARS]]
    )


def _copies(context: Context) -> Outcome:
    """`# Copied from` blocks. A full run uses upstream's own script when the checkout has it (what CI runs);
    a scoped run re-derives upstream's rules on the blocks in scope only (the same findings on those blocks,
    tests/quality/test_copies_scoped.py holds them side by side, in a fraction of the script's whole-tree time)."""
    script = context.offers.scripts.get("check_copies")
    ruff_dir = str(Path(context.ruff.binary.path).parent) if context.ruff else None
    fallback_note = ""
    if script is not None and context.scope.kind == "all":
        run = run_script(context.checkout, "check_copies", script, ruff_dir)
        log = ["", "== copies (upstream)", run.command, run.output[:_LOG_OUTPUT_CHARS]]
        if run.broken is None:
            findings = [
                f.model_copy(update={"check": "copies", "code": "copy-mismatch", "line": _copy_line(context, f)})
                for f in run.findings
            ]
            detail = f"upstream {script} ({run.duration_s:.1f} s)"
            return Outcome(
                [CheckSummary(check="copies", status="passed", detail=detail)], findings, [run.command], log
            )
        fallback_note = f"upstream check broken: {script}: {run.broken}; used the built-in re-derivation instead. "
    if context.ruff is None:
        return _skipped("copies", f"skipped: {context.ruff_note}")
    result = copies.check_copies(context.checkout, context.scope, context.ruff.binary.path, _copies_config(context))
    where = (
        "marked blocks in the tree"
        if context.scope.kind == "all"
        else "marked blocks in scope (in the changed files, or copying a definition the change touched)"
    )
    same = f"; the same rules as {script}, on those blocks only" if script is not None and not fallback_note else ""
    detail = (
        f"{fallback_note}built-in re-derivation of diffusers' copy rules: {len(result.blocks)} {where} "
        f"(of {result.checked_files} files with markers looked at), renamed ones formatted with ruff "
        f"{context.ruff.binary.version}{same}"
    )
    command = f"git grep -n 'Copied from diffusers.' + ruff {context.ruff.binary.version} format of renamed copies"
    return Outcome(
        [CheckSummary(check="copies", status="passed", detail=detail)],
        result.findings(),
        [command],
        ["", "== copies (built-in)", detail],
    )


def _copy_line(context: Context, finding: Finding) -> int | None:
    """Upstream reports a copy's header line; point at its first differing line like the built-in check."""
    if context.ruff is None or finding.line is None:
        return finding.line
    found = copies.first_difference_line(
        context.checkout, finding.path, finding.line, context.ruff.binary.path, _copies_config(context)
    )
    return found or finding.line


def _toctree(context: Context) -> Outcome:
    if not context.offers.toctrees:
        return _skipped("toctree", "skipped: the checkout has no docs/source/<lang>/_toctree.yml")
    findings, _ = toctree.check_toctree(context.checkout, context.scope, context.offers.toctrees)
    trees = context.offers.toctrees
    detail = f"new docs pages against {trees[0] if len(trees) == 1 else f'{len(trees)} toctrees (docs/source/*/)'}"
    return Outcome([CheckSummary(check="toctree", status="passed", detail=detail)], findings)


def _model_code(context: Context) -> Outcome:
    findings, files = rules.check_model_code(context.checkout, context.scope)
    base = (context.scope.merge_base or "")[:10]
    what = f"lines added since {base}" if context.scope.is_git else "every line (no git history)"
    detail = f"{files} model files with new code; checked {what} for einops, float64, torch.empty init"
    return Outcome([CheckSummary(check="model-code", status="passed", detail=detail)], findings)


def _pipeline_code(context: Context) -> Outcome:
    findings, files = rules.check_pipeline_code(context.checkout, context.scope)
    detail = f"{files} pipeline files checked for @torch.no_grad() on __call__"
    return Outcome([CheckSummary(check="pipeline-code", status="passed", detail=detail)], findings)


def _registry(context: Context, wanted: list[str]) -> Outcome:
    scope = context.scope
    keep = None
    if scope.kind != "all":
        relevant = _registration_relevance(context)
        if relevant is None:
            why = (
                "skipped: the change touches no init, dummy file or top-level definition, so registrations are as "
                "at the merge-base (scope=all checks them)"
            )
            return Outcome([CheckSummary(check=name, status="skipped", detail=why) for name in wanted])

        def keep(name: str | None, path: str, line: int | None) -> bool:
            if name is not None and name in relevant:
                return True
            if scope.kind == "paths":  # files named explicitly: everything in them
                return scope.includes(path)
            return scope.includes(path) and (line is None or scope.is_new(path, line))

    outcome = registration.check(context.checkout, keep)
    if not outcome.available or outcome.broken:
        status = "broken" if outcome.broken else "skipped"
        return Outcome([CheckSummary(check=name, status=status, detail=outcome.detail) for name in wanted])
    findings = [f for name in wanted for f in (outcome.registration if name == "registration" else outcome.dummies)]
    return Outcome([CheckSummary(check=name, status="passed", detail=outcome.detail) for name in wanted], findings)


def _registration_relevance(context: Context) -> set[str] | None:
    """The names whose registration the change may have broken, or None when it cannot have broken any.

    Registrations live in inits and dummy files and point at top-level definitions of modules, so only a
    change to an init or a dummy file, a deleted module, or a removed top-level definition can break them.
    """
    checkout, scope = context.checkout, context.scope
    package = checkout.package_rel + "/"

    def registration_file(path: str) -> bool:
        return path.startswith(package) and (
            path.endswith("/__init__.py") or path.startswith(package + "utils/dummy_")
        )

    touched = [p for p in [*scope.files, *scope.deleted] if scope.includes(p) or p in scope.deleted]
    names: set[str] = set()
    relevant = False
    for path in touched:
        if not path.startswith(package):
            continue
        if registration_file(path) or path in scope.deleted:
            relevant = True
            names |= scope.words.get(path, set())
        if path in scope.removed_definitions:
            relevant = True
            names |= scope.removed_definitions[path]
        if scope.new_lines.get(path, False) is None and path.endswith(".py") and (checkout.root / path).is_file():
            names |= rules.top_level_names(checkout.read_text(path))  # a new module: its names are new
    return names if relevant else None


def _upstream(context: Context, skip_copies: bool) -> Outcome:
    scripts = {
        name: path for name, path in context.offers.scripts.items() if not (skip_copies and name == "check_copies")
    }
    if not scripts:
        why = "the checkout has no utils/check_*.py that CI runs"
        if context.offers.scripts:
            why = "its only script, utils/check_copies.py, ran as the copies check"
        return _skipped("upstream", f"skipped: {why}")
    ruff_dir = str(Path(context.ruff.binary.path).parent) if context.ruff else None
    outcome = Outcome([])
    planned: dict[str, list[str] | None] = {}
    for name in scripts:
        untouched = _inputs_untouched(context, name, scripts[name])
        if untouched is not None:
            outcome.summaries.append(CheckSummary(check=f"upstream/{name}", status="skipped", detail=untouched))
            continue
        planned[name] = None
        if name == "check_forward_call_docstrings" and context.scope.kind != "all":
            files = [
                f
                for f in context.scope.files
                if f.endswith(".py") and (rules.is_model_file(context.checkout, f) or "/pipelines/" in f)
            ]
            if not files:
                outcome.summaries.append(
                    CheckSummary(
                        check=f"upstream/{name}", status="passed", detail="no model or pipeline file in scope"
                    )
                )
                del planned[name]
                continue
            planned[name] = ["--paths", *files]
    # Independent processes: run them side by side.
    with ThreadPoolExecutor(max_workers=max(len(planned), 1)) as pool:
        runs = list(
            pool.map(lambda name: run_script(context.checkout, name, scripts[name], ruff_dir, planned[name]), planned)
        )
    for run in runs:
        check = f"upstream/{run.name}"
        outcome.commands.append(run.command)
        outcome.log += [
            "",
            f"== {check} (exit {run.returncode}, {run.duration_s:.1f} s)",
            run.command,
            run.output[:_LOG_OUTPUT_CHARS],
        ]
        findings = [f.model_copy(update={"check": check}) for f in run.findings]
        outcome.findings += findings
        if run.broken is not None:
            summary = CheckSummary(check=check, status="broken", detail=f"upstream check broken: {run.broken}")
            outcome.notes.append(
                f"upstream check broken: {scripts[run.name]}: {run.broken} (not a finding against the change)"
            )
        else:
            summary = CheckSummary(check=check, status="passed", detail=f"{run.command} ({run.duration_s:.1f} s)")
        summary.findings = len(findings)
        summary.fixable = sum(1 for f in findings if f.fixable)
        summary.duration_ms = int(run.duration_s * 1000)
        if findings and summary.status == "passed":
            summary.status = "failed"
        outcome.summaries.append(summary)
    return outcome


# What the upstream scripts read when they read a fixed set of files (their outcome cannot change otherwise).
_TOC_PATH = re.compile(r"""^PATH_TO_TOC\s*=\s*["']([^"']+)["']""", re.M)
_SUPPORT_PATHS = re.compile(r"""["'](?:doc_path|src_path)["']\s*:\s*["']([^"']+)["']""")


def _inputs_untouched(context: Context, name: str, script: str) -> str | None:
    """Why a `changed` run skips this upstream script (the change touches none of the files it reads), or None
    to run it. Scripts that read what the change may touch, or that we cannot tell, always run."""
    scope = context.scope
    if scope.kind != "changed" or not scope.is_git:
        return None
    package = context.checkout.package_rel
    if name == "check_dummies":
        reads = f"{package}/__init__.py and {package}/utils/dummy_*.py"

        def touched(path: str) -> bool:
            return path == f"{package}/__init__.py" or path.startswith(f"{package}/utils/dummy_")

    else:
        text = (context.checkout.root / script).read_text(encoding="utf-8", errors="replace")
        found = _TOC_PATH.findall(text) if name == "check_doc_toc" else None
        found = _SUPPORT_PATHS.findall(text) if name == "check_support_list" else found
        if not found:
            return None
        reads = ", ".join(sorted(set(found)))

        def touched(path: str) -> bool:
            return path in found

    if any(touched(path) for path in [*scope.new_lines, *scope.deleted]):
        return None
    return f"skipped: the change touches none of the files it reads ({reads}); scope=all runs it"


# ---------------------------------------------------------------------------------------------- fixes


def _apply_fixes(
    context: Context, selected: list[str], fixed: dict[str, FixedFile]
) -> tuple[list[str], list[str], list[str]]:
    checkout = context.checkout
    log: list[str] = ["", "== fixes"]
    commands: list[str] = []
    notes: list[str] = []

    def record(changes: list[FileChange], by: str) -> None:
        for change in changes:
            if change.action == "unchanged":
                continue
            entry = fixed.setdefault(change.path, FixedFile(path=change.path, action=change.action, by=[]))
            if by not in entry.by:
                entry.by.append(by)
            log.extend([f"-- {by}: {change.path} {change.action}", change.diff])

    if context.ruff is not None and {"ruff-check", "ruff-format"} & set(selected):
        targets = _ruff_targets(context)
        if targets:
            lint = context.ruff.lint(targets) if "ruff-check" in selected else None
            fmt = context.ruff.format_check(targets) if "ruff-format" in selected else None
            needing = sorted(
                {f.path for f in (lint.findings if lint else []) if f.fixable}
                | {f.path for f in (fmt.findings if fmt else [])}
            )
            contents = {path: checkout.read_text(path) for path in needing}
            new = context.ruff.fix_files(contents)
            commands += [c for c in (lint.command if lint else None, fmt.command if fmt else None) if c]
            if needing:
                commands += context.ruff.fix_commands(len(needing))
            changes = checkout.write_files(new) if new else []
            for change in changes:
                by = [
                    name
                    for name, run in (("ruff-check", lint), ("ruff-format", fmt))
                    if run and any(f.path == change.path for f in run.findings)
                ]
                for name in by:
                    record([change], name)
    if "copies" in selected and context.ruff is not None:
        new, blocks = copies.sync_copies(checkout, context.scope, context.ruff.binary.path, _copies_config(context))
        commands.append(
            f"# Copied from sync (built-in, like utils/check_copies.py --fix_and_overwrite): {len(blocks)} blocks"
        )
        record(checkout.write_files(new) if new else [], "copies")
    if {"registration", "dummies"} & set(selected):
        available, new = registration.sync(checkout)
        if not available:
            notes.append("registration and dummy sync skipped: registry engine not available yet")
        else:
            commands.append("dummy files regenerated by the registry engine (as utils/check_dummies.py would)")
            if new:
                record(checkout.write_files(new), "dummies")
    if "toctree" in selected and context.offers.toctrees:
        _, placements = toctree.check_toctree(checkout, context.scope, context.offers.toctrees)
        new = toctree.insert_entries(checkout, placements)
        record(checkout.write_files(new) if new else [], "toctree")
    return log, commands, notes


def _extend_scope(scope: Scope, fixed: dict[str, FixedFile]) -> None:
    extra = [path for path in fixed if not scope.includes(path)]
    if not extra:
        return
    if scope.kind == "paths":
        scope.roots.extend(extra)
    scope.files.extend(extra)
    scope.__post_init__()


# ---------------------------------------------------------------------------------------------- output


def _count_all(context: Context) -> int:
    root = context.checkout.root
    total = 0
    for target in context.offers.check_dirs or [context.checkout.package_rel]:
        path = root / target
        total += 1 if path.is_file() else sum(1 for _ in path.rglob("*.py"))
    return total


def _finding_line(finding: Finding) -> str:
    where = f"{finding.path}:{finding.line or ''}:{finding.col or ''}".rstrip(":")
    return f"{where}: [{finding.check}] {finding.code} {finding.message}{' (fixable)' if finding.fixable else ''}"


def _write_log(checkout: Checkout, text: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = checkout.state_dir / LOG_DIR
    rel = f"{checkout.rel(folder)}/quality-{stamp}-{secrets.token_hex(3)}.log"
    old = sorted(folder.glob("quality-*.log")) if folder.is_dir() else []
    stale = {checkout.rel(p): None for p in old[: max(len(old) - KEEP_LOGS + 1, 0)]}
    checkout.write_files({**stale, rel: Scrubber().text(text)})  # tool output may quote a secret
    return rel


def _next_step(findings: list[Finding], broken: list[CheckSummary], fixed_already: bool) -> str:
    if not findings:
        tail = " Some upstream checks are broken on their own; mention them in your report." if broken else ""
        return "Clean: nothing in scope breaks the gates." + tail
    fixable = sum(1 for f in findings if f.fixable)
    manual = len(findings) - fixable
    parts = []
    if fixable and not fixed_already:
        parts.append(f"Call make_quality with fix=true to repair {fixable} finding(s)")
    elif fixable:
        parts.append(f"{fixable} fixable finding(s) remain after fixing: read the log")
    if manual:
        parts.append(f"fix the other {manual} by hand (see each message), then run make_quality again")
    return "; ".join(parts) + "."
