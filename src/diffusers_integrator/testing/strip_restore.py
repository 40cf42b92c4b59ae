"""Strip and restore: the proof that registration reproduces upstream, run on every module that registers names.

For each case (a model module, a model family, a scheduler module, a pipeline or modular package, a guider, hook,
loader or quantizer module) we take the pristine tree in memory, remove the registrations that lead to the
case's files (`unregister_edits`), delete the files, and move aside every other file that still mentions one of
its names (users such as `auto_pipeline.py`, restored verbatim later), so that nothing under the package
mentions the names any more. Then the files come back and `register_edits` registers the names again, with the
backends it infers (the upstream ones are passed only where inference differs, and counted). Every touched
file is compared with upstream's text, guards included (`strict.py`): byte-identical, or different only where
upstream contradicts itself, each such file with the evidence; anything else is a failure.
"""

from __future__ import annotations

import posixpath
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import IntegratorError
from ..registry.backends import infer_backends
from ..registry.check import check_tree
from ..registry.graph import TOP_INIT, Graph, Registration, build_graph, final_targets
from ..registry.model import defines_name
from ..registry.register import register_edits, unregister_edits
from ..registry.schema import SymbolSpec
from ..registry.tree import MemoryTree
from .strict import Evidence, FileOutcome, classify


STATUS_ORDER = ["identical", "upstream-varies", "failure"]


@dataclass(frozen=True)
class Case:
    kind: str  # model, model-family, scheduler, pipeline, modular
    label: str  # the module or package path, relative to the diffusers package
    folder: bool  # a package (every file under `label/`) rather than one module file

    def contains(self, rel: str) -> bool:
        return rel.startswith(self.label + "/") if self.folder else rel == self.label


@dataclass
class CaseOutcome:
    case: Case
    status: str
    names: list[str] = field(default_factory=list)
    files: list[FileOutcome] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)
    explained: list[str] = field(default_factory=list)  # names no module defines, with upstream's evidence
    shared: list[str] = field(default_factory=list)  # names that stay registered for another module
    idempotent: bool = True
    seconds: float = 0.0


@dataclass
class SweepReport:
    outcomes: list[CaseOutcome]
    seconds: float

    def counts(self) -> Counter:
        return Counter(outcome.status for outcome in self.outcomes)

    def by_kind(self) -> dict[str, Counter]:
        table: dict[str, Counter] = {}
        for outcome in self.outcomes:
            table.setdefault(outcome.case.kind, Counter())[outcome.status] += 1
        return table

    def file_counts(self) -> Counter:
        return Counter(file.status for outcome in self.outcomes for file in outcome.files)

    def rule_counts(self, status: str) -> Counter:
        return Counter(file.rule for outcome in self.outcomes for file in outcome.files if file.status == status)

    def varying_files(self) -> dict[str, list[tuple[str, FileOutcome]]]:
        """Every file allowed to differ, by path: (case label, outcome with rule and evidence)."""
        found: dict[str, list[tuple[str, FileOutcome]]] = {}
        for outcome in self.outcomes:
            for file in outcome.files:
                if file.status == "upstream-varies":
                    found.setdefault(file.rel, []).append((outcome.case.label, file))
        return dict(sorted(found.items()))


# ------------------------------------------------------------------------------------------ cases


def enumerate_cases(graph: Graph) -> list[Case]:
    """Every module and package of models, schedulers, pipelines, modular pipelines, guiders, hooks, loaders and
    quantizers that registers names."""
    cases: dict[str, Case] = {}

    def add(kind: str, label: str, folder: bool) -> None:
        cases.setdefault(label, Case(kind, label, folder))

    for reg in graph.registrations:
        if reg.init.startswith("models/") and reg.target_kind == "module":
            add("model", reg.target, False)
    for rel, parsed in graph.inits.items():
        if rel.startswith("models/") and parsed.kind == "plain":
            add("model-family", posixpath.dirname(rel), True)

    def walk(init_rel: str, kind: str, seen: set[str]) -> None:
        if init_rel in seen:
            return
        seen.add(init_rel)
        for reg in graph.in_init(init_rel):
            if reg.target_kind == "module":
                add(kind, reg.target, False)
            elif reg.target_kind in ("lazy", "plain"):
                inner = graph.in_init(reg.target)
                if inner and all(r.target_kind in ("module", "missing") for r in inner):
                    add(kind, posixpath.dirname(reg.target), True)
                else:
                    walk(reg.target, kind, seen)

    for root, kind in (("schedulers", "scheduler"), ("pipelines", "pipeline"), ("modular_pipelines", "modular")):
        walk(f"{root}/__init__.py", kind, set())
    # The packages with inits of their own shapes: guiders/ and hooks/ (plain, torch-guarded), loaders/ (lazy with
    # nested plain `if` guards), quantizers/ (plain and unguarded, its configs registered by the top level alone).
    for root, kind in (("guiders", "guider"), ("hooks", "hook"), ("loaders", "loader"), ("quantizers", "quantizer")):
        for reg in graph.registrations:
            if (
                reg.target_kind == "module"
                and reg.target.startswith(f"{root}/")
                and reg.init
                in (
                    TOP_INIT,
                    f"{root}/__init__.py",
                )
            ):
                add(kind, reg.target, False)
    return sorted(cases.values(), key=lambda case: (case.kind, case.label))


def sample_cases(cases: list[Case], per_kind: int = 3, include: Iterable[str] = ()) -> list[Case]:
    """A few cases of each kind (spread over the sorted list), plus any named in `include`."""
    wanted = set(include)
    out = []
    for kind in sorted({case.kind for case in cases}):
        of_kind = [case for case in cases if case.kind == kind]
        step = max(1, len(of_kind) // per_kind)
        out.extend(of_kind[::step][:per_kind])
    out.extend(case for case in cases if case.label in wanted and case not in out)
    return out


# ------------------------------------------------------------------------------------------ one case


def _upstream_backends(regs: list[Registration]) -> list[str] | None:
    """The backends upstream registers a name under; None where only its form says (a package init's
    unguarded initializer, one of the two forms upstream writes: left to the form the registry chooses)."""
    top = [reg for reg in regs if reg.init == TOP_INIT and reg.half == "structure" and reg.block.guard is not None]
    if top:
        return sorted(top[0].backends)
    inner = [reg for reg in regs if reg.half in ("structure", "plain") and reg.block.guard is not None]
    if inner:
        deepest = max(inner, key=lambda reg: reg.init.count("/"))
        return sorted(deepest.backends)
    unguarded = [reg for reg in regs if reg.half in ("structure", "plain")]
    if unguarded and not all(reg.entry.kind == "dict" and reg.init != TOP_INIT for reg in unguarded):
        return []  # registered under no guard at all (`PipelineQuantizationConfig`, `PeftAdapterMixin`)
    return None


def run_case(base: MemoryTree, graph: Graph, evidence: Evidence, case: Case) -> CaseOutcome | None:
    started = time.perf_counter()
    chosen = [reg for reg in graph.registrations if any(case.contains(t) for t in final_targets(graph, reg))]
    if not chosen:
        return None
    names = sorted({reg.name for reg in chosen})
    # Registrations of these names that lead to no module at all (a broken chain) are traces of the case too.
    for name in names:
        for reg in graph.of_name(name):
            modules = [t for t in final_targets(graph, reg) if not t.endswith("__init__.py") and base.read(t)]
            if reg not in chosen and not modules:
                chosen.append(reg)
    # Names also registered for another module (e.g. a model a pipeline package re-exports) stay there.
    shared = {reg.name for reg in graph.registrations if reg.name in names and reg not in chosen}
    outcome = CaseOutcome(case, "identical", names, shared=sorted(shared))
    ids = {(reg.init, reg.half, reg.key, reg.name) for reg in chosen}

    # Strip: unregister, delete the case's files, move aside the files that still use the names.
    strip = unregister_edits(
        base, names, select=lambda reg: (reg.init, reg.half, reg.key, reg.name) in ids, graph=graph
    )
    stripped = base.layer()
    stripped.apply(strip.files)
    case_files = [rel for rel in base.files if case.contains(rel)]
    stripped.apply(dict.fromkeys(case_files))
    users: dict[str, str] = {}
    for name in names:
        for rel in stripped.mentions(name):
            if rel in strip.files:
                if name not in shared:
                    outcome.reasons.append(f"strip: {name} is still mentioned in {rel} after unregister")
                continue
            users[rel] = stripped.read(rel) or ""
    stripped.apply(dict.fromkeys(users))
    leftovers = sorted({rel for name in names if name not in shared for rel in stripped.mentions(name)})
    if leftovers and not outcome.reasons:
        outcome.reasons.append(f"strip: names still mentioned in {', '.join(leftovers[:3])}")

    # Restore: files back (package inits are ours to create), then register.
    registration_inits = {rel for rel in graph.inits if case.contains(rel)}
    restored = stripped.layer()
    restored.apply({rel: base.read(rel) for rel in case_files if rel not in registration_inits})
    restored.apply(users)
    specs = []
    for name in names:
        regs = [reg for reg in chosen if reg.name == name]
        modules = []
        for reg in sorted(regs, key=lambda r: (r.half == "typing", -r.init.count("/"))):
            for target in sorted(final_targets(graph, reg)):
                source = restored.read(target)
                if case.contains(target) and target.endswith(".py") and not target.endswith("__init__.py"):
                    if source is not None and defines_name(source, name) and target not in modules:
                        modules.append(target)
        if not modules:
            found = evidence.contradiction(name)
            if found:
                outcome.explained.append(f"no module of the case defines it: {found}")
            else:
                outcome.reasons.append(f"restore: no module of the case defines {name}")
            continue
        module = modules[0]
        export = any(reg.init == TOP_INIT for reg in regs)
        spec = SymbolSpec(name=name, module=f"src/diffusers/{module}", export=export)
        upstream = _upstream_backends(regs)
        inferred, _ = infer_backends(restored, module)
        if upstream is not None and set(upstream) != set(inferred):
            spec.backends = upstream
            outcome.overridden.append(name)
        specs.append(spec)
    try:
        edits = register_edits(restored, specs)
    except IntegratorError as error:
        outcome.status = "failure"
        outcome.reasons.append(f"register raised: {error}")
        outcome.seconds = time.perf_counter() - started
        return outcome
    restored.apply(edits.files)
    again = register_edits(restored, specs)
    outcome.idempotent = not again.files

    # Compare every touched file with upstream's text.
    touched = sorted(set(strip.files) | set(case_files) | set(edits.files) | set(users))
    for rel in touched:
        old, new = base.read(rel), restored.read(rel)
        created = stripped.read(rel) is None and old is not None and rel.endswith("__init__.py")
        outcome.files.append(classify(rel, old, new, created=created, case_names=set(names), evidence=evidence))
    statuses = [file.status for file in outcome.files]
    if outcome.explained:
        statuses.append("upstream-varies")
    if outcome.reasons:
        statuses.append("failure")
    if not outcome.idempotent:
        statuses.append("failure")
        outcome.reasons.append("not idempotent: a second register call changed files")
    outcome.status = max(statuses, key=STATUS_ORDER.index) if statuses else "identical"
    outcome.seconds = time.perf_counter() - started
    return outcome


# ------------------------------------------------------------------------------------------ the sweep


def run_sweep(base: MemoryTree, cases: list[Case] | None = None, graph: Graph | None = None) -> SweepReport:
    started = time.perf_counter()
    graph = graph or build_graph(base)
    findings, _, _ = check_tree(base)
    evidence = Evidence.of(base, findings)
    outcomes = []
    for case in cases if cases is not None else enumerate_cases(graph):
        outcome = run_case(base, graph, evidence, case)
        if outcome is not None:
            outcomes.append(outcome)
    return SweepReport(outcomes, time.perf_counter() - started)
