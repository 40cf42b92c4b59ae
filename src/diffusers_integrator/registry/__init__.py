"""Lazy-import registration of public names in a diffusers tree: register, unregister, check.

The tools edit a checkout the way a careful diffusers contributor would: every init on the way from the top
level to the module, both halves (`_import_structure` and the TYPE_CHECKING mirror), the right backend guard,
upstream's sort orders, and the dummy files exactly as `utils/check_dummies.py --fix_and_overwrite` writes
them. Edits are computed on texts (see `register.py`); this module writes them through `Checkout` and shapes
the pydantic results the MCP tools and the CLI return. Nothing here imports diffusers or torch.
"""

from __future__ import annotations

import contextlib
from collections import Counter

from ..checkout import Checkout
from ..errors import IntegratorError
from .check import Finding, check_tree
from .register import InitEdits, register_edits, unregister_edits
from .schema import (
    CheckRegistrationRequest,
    CheckRegistrationResult,
    NameStatus,
    RegisterLazyImportRequest,
    RegistrationFinding,
    RegistrationResult,
    SymbolSpec,
    UnregisterLazyImportRequest,
)
from .tree import CheckoutTree, OverlayTree


__all__ = [
    "CheckRegistrationRequest",
    "CheckRegistrationResult",
    "NameStatus",
    "RegisterLazyImportRequest",
    "RegistrationFinding",
    "RegistrationResult",
    "SymbolSpec",
    "UnregisterLazyImportRequest",
    "check_registration",
    "register_names",
    "unregister_names",
]


def register_names(
    checkout: Checkout,
    symbols: list[SymbolSpec],
    backends: list[str] | None = None,
    dry_run: bool = False,
) -> RegistrationResult:
    """Registers each symbol in every init that needs it and regenerates the dummy files it touches.

    `backends` applies to every symbol without its own `backends`; without either, backends are inferred from
    where the module lives and what it imports. Idempotent: names already registered correctly change nothing;
    a name found in the wrong guard block or under the wrong key is moved.
    """
    if not symbols:
        raise IntegratorError("No symbols to register.", "Pass at least one {name, module} pair.")
    # The read of the inits, the edits and the write are one step under the writer lock: two callers registering
    # at once would otherwise both edit the same old text and the second write would drop the first's names.
    with _writing(checkout, dry_run):
        tree = CheckoutTree(checkout)
        edits = register_edits(tree, symbols, backends, package_rel=checkout.package_rel)
        return _result(checkout, tree, edits, dry_run, register=True)


def unregister_names(checkout: Checkout, names: list[str], dry_run: bool = False) -> RegistrationResult:
    """Removes every registration of `names` (all inits, both halves) and their dummies; files stay.

    The inverse of `register_names`, for renames and for removing an integration. Guard blocks left empty are
    removed; a dummy file nothing refers to any more is deleted.
    """
    if not names:
        raise IntegratorError("No names to unregister.", "Pass at least one name.")
    with _writing(checkout, dry_run):
        tree = CheckoutTree(checkout)
        edits = unregister_edits(tree, list(dict.fromkeys(names)), package_rel=checkout.package_rel)
        return _result(checkout, tree, edits, dry_run, register=False)


def _writing(checkout: Checkout, dry_run: bool) -> contextlib.AbstractContextManager[None]:
    """The writer lock for a real write; a dry run only reads, so it takes none."""
    return contextlib.nullcontext() if dry_run else checkout.writing()


def _result(
    checkout: Checkout, tree: CheckoutTree, edits: InitEdits, dry_run: bool, *, register: bool
) -> RegistrationResult:
    files = {tree.to_root(rel): text for rel, text in sorted(edits.files.items())}
    changes = checkout.write_files(files, dry_run=dry_run) if files else []
    statuses = list(edits.statuses.values())
    result = RegistrationResult(dry_run=dry_run, changes=changes, names=statuses, not_placed=edits.not_placed)
    touched = [change.path for change in changes if change.action != "unchanged"]
    if register:
        result.added = [status.name for status in statuses if status.added_to]
        result.already_present = [status.name for status in statuses if not status.added_to]
        verb = "Would register" if dry_run else "Registered"
        result.summary = (
            f"{verb} {len(result.added)} name(s) in {len(touched)} file(s)"
            + (f" ({sum(1 for c in changes if c.action == 'created')} created)" if touched else "")
            + (f"; already registered: {', '.join(result.already_present)}" if result.already_present else "")
            + "".join(f"; NOT placed: {item.name} ({item.problem} {item.fix})" for item in result.not_placed)
            + "."
        )
    else:
        result.removed = [status.name for status in statuses if status.removed_from]
        result.not_registered = [status.name for status in statuses if not status.removed_from]
        verb = "Would remove" if dry_run else "Removed"
        result.summary = (
            f"{verb} {len(result.removed)} name(s) from {len(touched)} file(s)"
            + (f"; not registered anywhere: {', '.join(result.not_registered)}" if result.not_registered else "")
            + "."
        )
    return result


def check_registration(
    checkout: Checkout, names: list[str] | None = None, max_findings: int = 50
) -> CheckRegistrationResult:
    """Every registration inconsistency of the tree (or of `names`), each with file, line and fix.

    Read-only. `max_findings` caps the list (errors first); `total` and `counts` always cover all of them.
    """
    tree = CheckoutTree(checkout)
    findings, names_checked, files_checked = check_tree(tree, names)
    before = _findings_at_branch_point(checkout, tree) if findings else None
    counts = Counter(finding.code for finding in findings)
    severities = Counter(finding.severity for finding in findings)
    shown = findings[: max(0, max_findings)]
    report = CheckRegistrationResult(
        ok=severities["error"] == 0,
        names_checked=names_checked,
        files_checked=files_checked,
        total=len(findings),
        counts=dict(sorted(counts.items())),
        findings=[
            RegistrationFinding(
                code=finding.code,
                severity=finding.severity,
                path=tree.to_root(finding.path),
                line=finding.line,
                name=finding.name,
                message=finding.message,
                fix=finding.fix,
                auto_fixable=finding.auto_fixable,
                pre_existing=None if before is None else _key(finding) in before,
            )
            for finding in shown
        ],
        truncated=len(shown) < len(findings),
    )
    if findings:
        report.summary = (
            f"{len(findings)} finding(s): {severities['error']} error(s), {severities['warning']} warning(s), "
            f"{severities['info']} info; {names_checked} names in {files_checked} files checked"
            + (f"; showing the first {len(shown)}" if report.truncated else "")
            + "."
        )
        inherited = sum(1 for finding in findings if before is not None and _key(finding) in before)
        if inherited:
            report.summary += f" {inherited} pre-existing at the branch point (upstream's, not this change's to fix)."
        unknown = sorted(finding.name or "" for finding in findings if finding.code == "not-registered")
        if unknown:
            listed = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            report.summary += f" Registered nowhere: {listed}."
    else:
        report.summary = f"Consistent: {names_checked} names in {files_checked} files checked."
    return report


def _key(finding: Finding) -> tuple[str, str, str | None]:
    """What identifies a finding across versions of a file (its line moves when lines are added above it)."""
    return finding.code, finding.path, finding.name


def _findings_at_branch_point(checkout: Checkout, tree: CheckoutTree) -> set[tuple[str, str, str | None]] | None:
    """The findings of the package as it was at the merge-base with upstream, or None outside git.

    The tree is read as it is, with the files the branch changed put back as they were (files it added: gone),
    so a finding the contributor inherited is told apart from one the change made. Every integration touches the
    top-level init and the dummies, where upstream carries findings of its own.
    """
    facts = checkout.git_facts()
    if not facts.is_repo or not facts.merge_base:
        return None
    import git

    repo = git.Repo(checkout.root)
    prefix = f"{checkout.package_rel}/"
    overlay: dict[str, str | None] = {}
    for path in facts.changed:
        if path.startswith(prefix) and path.endswith(".py"):
            try:
                overlay[path[len(prefix) :]] = repo.git.show(
                    f"{facts.merge_base}:{path}", strip_newline_in_stdout=False
                )
            except git.GitCommandError:  # added by the branch
                overlay[path[len(prefix) :]] = None
    findings, _, _ = check_tree(OverlayTree(tree, overlay), None)
    return {_key(finding) for finding in findings}
