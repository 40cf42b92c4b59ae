"""Every inconsistency between the places a public name must appear, with file, line and fix.

The checks compare what upstream's own tools never compare: the `_import_structure` half of an init with its
TYPE_CHECKING mirror (both directions), each init with the package it points at (down to the module that
must define the name), the guard blocks a name sits in (halves, top level vs the package's own guard), the
dummy files with what upstream's generator would write, and the sort orders upstream keeps.
"""

from __future__ import annotations

import ast
import difflib
import posixpath
from collections import defaultdict
from dataclasses import dataclass

from .backends import module_backends
from .dummies import generate_dummy_files, names_in_dummy_file, read_backend_objects
from .graph import TOP_INIT, Graph, Registration, build_graph, final_targets
from .model import ParsedInit, defines_name
from .sorting import first_unsorted, init_isort_key, ruff_member_key, ruff_module_key
from .tree import SourceTree


@dataclass
class Finding:
    code: str
    severity: str
    path: str  # relative to the package
    line: int | None
    name: str | None
    message: str
    fix: str
    auto_fixable: bool


def _fmt(backends: frozenset[str] | set[str]) -> str:
    return "+".join(sorted(backends)) if backends else "no guard"


def _module_level_imports(parsed: ParsedInit) -> set[str]:
    """Names an init imports at module level (outside TYPE_CHECKING); they exist in both import modes."""
    names = set()
    for stmt in parsed.tree.body:
        if isinstance(stmt, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in stmt.names)
    return names


def check_tree(tree: SourceTree, names: list[str] | None = None) -> tuple[list[Finding], int, int]:
    """(findings, names checked, files checked) for the whole tree, or only for `names`."""
    graph = build_graph(tree)
    wanted = set(names) if names else None
    findings: list[Finding] = []
    findings += _check_halves(graph)
    findings += _check_targets(graph, tree)
    findings += _check_guards(graph, tree)
    findings += _check_sorting(graph)
    findings += _check_dummies(graph, tree)
    checked = {reg.name for reg in graph.registrations}
    if wanted is not None:
        findings = [f for f in findings if f.name in wanted]
        # A name asked about that no init registers is a finding too: never "consistent" by skipping it.
        findings += [_not_registered(name) for name in sorted(wanted - checked)]
    findings = _dedupe(findings)
    files = len(graph.inits) + sum(1 for rel in generate_dummy_files(tree.read(TOP_INIT) or ""))
    return findings, len(checked if wanted is None else wanted), files


def _not_registered(name: str) -> Finding:
    return Finding(
        "not-registered",
        "error",
        TOP_INIT,
        None,
        name,
        f"{name} is registered in no init (neither `_import_structure` nor TYPE_CHECKING) of the tree.",
        f"Check the spelling; if {name} is new, register it with register_lazy_import.",
        False,
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen = set()
    out = []
    for finding in findings:
        key = (finding.code, finding.path, finding.line, finding.name)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    severity = {"error": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda f: (severity[f.severity], f.path, f.line or 0, f.code))


# ------------------------------------------------------------------------------------------ halves


def _in_unguarded_initializer(reg: Registration) -> bool:
    """Whether the registration is an entry of the init's unguarded `_import_structure = {...}` literal."""
    return reg.block.guard is None and reg.entry.kind == "dict"


def _check_halves(graph: Graph) -> list[Finding]:
    out = []
    for rel, parsed in graph.inits.items():
        if parsed.kind != "lazy":
            continue
        regs = graph.in_init(rel)
        structure = defaultdict(list)
        typing = defaultdict(list)
        for reg in regs:
            (structure if reg.half == "structure" else typing)[reg.name].append(reg)
        loose = _module_level_imports(parsed)
        top = rel == TOP_INIT
        for name, found in structure.items():
            first = found[0]
            if name not in typing and name not in loose:
                guard = _fmt(first.backends)
                severity = "error" if top else "warning"
                fix = f"Add `from .{first.key.split('.')[0]} import {name}` to the TYPE_CHECKING block guarded by {guard}."
                if top and first.block.guard is not None:
                    consequence = " So it has no dummy object: upstream's generator reads only the TYPE_CHECKING half."
                else:
                    consequence = " Under DIFFUSERS_SLOW_IMPORT (and for type checkers) the name is missing."
                if not top and _in_unguarded_initializer(first):
                    # One of upstream's two forms of a pipeline package init (`pipelines/flux`): the output
                    # dataclass sits in the unguarded `_import_structure = {...}` with no TYPE_CHECKING import.
                    # register_lazy_import keeps and writes that form, so it is worth knowing, not a defect.
                    severity = "info"
                    consequence += " This is upstream's unguarded form (`pipelines/flux/__init__.py` and others)."
                    fix = f"Nothing is needed for upstream's form; to have it under DIFFUSERS_SLOW_IMPORT too: {fix}"
                out.append(
                    Finding(
                        "typing-missing",
                        severity,
                        rel,
                        first.line,
                        name,
                        f'{name} is in `_import_structure["{first.key}"]` ({guard}) but not imported under '
                        f"`if TYPE_CHECKING or DIFFUSERS_SLOW_IMPORT:`.{consequence}",
                        fix,
                        True,
                    )
                )
            if len(found) > 1:
                for extra in found[1:]:
                    out.append(
                        Finding(
                            "duplicate",
                            "warning",
                            rel,
                            extra.line,
                            name,
                            f"{name} is registered {len(found)} times in `_import_structure` "
                            f"(lines {', '.join(str(r.line) for r in found)}; guards "
                            f"{', '.join(_fmt(r.backends) for r in found)}).",
                            "Keep one entry, under the guard of the backends the module needs.",
                            True,
                        )
                    )
        for name, found in typing.items():
            first = found[0]
            if name not in structure:
                out.append(
                    Finding(
                        "structure-missing",
                        "error",
                        rel,
                        first.line,
                        name,
                        f"{name} is imported under TYPE_CHECKING (from .{first.key}) but missing from "
                        "`_import_structure`, so a normal `import diffusers` never provides it.",
                        f'Add "{name}" to `_import_structure` under the {_fmt(first.backends)} guard.',
                        True,
                    )
                )
                continue
            if len(found) > 1:
                for extra in found[1:]:
                    out.append(
                        Finding(
                            "duplicate",
                            "warning",
                            rel,
                            extra.line,
                            name,
                            f"{name} is imported {len(found)} times under TYPE_CHECKING (lines "
                            f"{', '.join(str(r.line) for r in found)}; guards {', '.join(_fmt(r.backends) for r in found)}).",
                            "Keep one import, under the guard that matches `_import_structure`.",
                            True,
                        )
                    )
            structure_sets = {reg.backends for reg in structure[name]}
            # An unguarded `_import_structure` entry (the dict literal) is more permissive than any guard: fine.
            unguarded = any(reg.block.guard is None for reg in structure[name])
            for reg in found:
                if reg.backends not in structure_sets and not unguarded:
                    where = " so its dummy lands in the wrong dummy file" if top else ""
                    out.append(
                        Finding(
                            "backend-mismatch",
                            "error",
                            rel,
                            reg.line,
                            name,
                            f"{name} is imported under TYPE_CHECKING in the {_fmt(reg.backends)} block but registered "
                            f"in `_import_structure` under {', '.join(_fmt(s) for s in structure_sets)}{where}.",
                            "Move the import to the TYPE_CHECKING block with the same guard as `_import_structure`.",
                            True,
                        )
                    )
            structure_targets = {r.target for r in structure[name]}
            for reg in found:
                if reg.target not in structure_targets and reg.target_kind == "module":
                    if all(r.target_kind == "module" for r in structure[name]):
                        out.append(
                            Finding(
                                "key-mismatch",
                                "warning",
                                rel,
                                reg.line,
                                name,
                                f"{name} is imported from .{reg.key} under TYPE_CHECKING but `_import_structure` "
                                f"loads it from {', '.join(sorted(r.key for r in structure[name]))}.",
                                "Import it from the same module in both halves.",
                                True,
                            )
                        )
    return out


# ------------------------------------------------------------------------------------------ targets


def _check_targets(graph: Graph, tree: SourceTree) -> list[Finding]:
    out = []
    defined_cache: dict[tuple[str, str], bool] = {}
    for reg in graph.registrations:
        if reg.target_kind == "missing":
            out.append(
                Finding(
                    "module-missing",
                    "error",
                    reg.init,
                    reg.line,
                    reg.name,
                    f"{reg.name} is registered under key `{reg.key}`, but {reg.target} does not exist.",
                    "Point the key at the module that defines the name, or remove the entry.",
                    False,
                )
            )
        elif reg.target_kind == "module":
            cache_key = (reg.target, reg.name)
            if cache_key not in defined_cache:
                defined_cache[cache_key] = defines_name(tree.read(reg.target) or "", reg.name)
            if not defined_cache[cache_key]:
                out.append(
                    Finding(
                        "name-not-defined",
                        "error",
                        reg.init,
                        reg.line,
                        reg.name,
                        f"{reg.name} is registered from {reg.target}, which neither defines nor imports it.",
                        "Register it from the module that defines it (or define it there).",
                        False,
                    )
                )
        else:
            sub = graph.inits.get(reg.target)
            if sub is None:
                continue
            half = "plain" if sub.kind == "plain" else ("structure" if reg.half == "plain" else reg.half)
            provided = {inner.name for inner in graph.in_init(reg.target) if inner.half == half}
            if sub.kind == "lazy" and half == "typing":
                provided |= _module_level_imports(sub)
            folder = reg.target[: -len("/__init__.py")]
            if tree.read(f"{folder}/{reg.name}.py") is not None or tree.read(f"{folder}/{reg.name}/__init__.py"):
                continue  # a submodule: importing the package makes it an attribute
            if reg.name not in provided:
                where = "`_import_structure`" if half == "structure" else "its TYPE_CHECKING half"
                if half == "plain":
                    where = "its imports"
                out.append(
                    Finding(
                        "subpackage-missing",
                        "error",
                        reg.init,
                        reg.line,
                        reg.name,
                        f"{reg.name} is registered here under `{reg.key}`, but {reg.target} does not provide it in "
                        f"{where}, so the import fails.",
                        f"Register {reg.name} in {reg.target} as well.",
                        True,
                    )
                )
    # Exported from a package init on the way down, but not from the top level.
    exported_top = {reg.name for reg in graph.in_init(TOP_INIT)}
    for rel in graph.inits:
        if rel == TOP_INIT or rel.split("/")[0] not in ("models", "pipelines", "schedulers", "modular_pipelines"):
            continue
        for reg in graph.in_init(rel):
            intermediate = reg.target_kind in ("lazy", "plain") or "." in reg.key
            if reg.half != "structure" or reg.name in exported_top or reg.entry.kind == "dict" or not intermediate:
                continue
            out.append(
                Finding(
                    "partial-export",
                    "info",
                    rel,
                    reg.line,
                    reg.name,
                    f"{reg.name} is exported from diffusers.{posixpath.dirname(rel).replace('/', '.')} but not from "
                    "the top-level `diffusers` namespace (so it has no dummy object).",
                    "Register it with export=true, or drop it from this init if it is internal.",
                    True,
                )
            )
    return out


# ------------------------------------------------------------------------------------------ guards


def _innermost_guards(graph: Graph, reg: Registration) -> set[frozenset[str]]:
    """Guards of the structure entries that finally load the name from its module."""
    guards = set()
    for target in final_targets(graph, reg):
        for inner in graph.of_name(reg.name):
            if inner.target == target and inner.half in ("structure", "plain"):
                if inner.init != reg.init and inner.block.guard is not None:
                    guards.add(inner.backends)
    return guards


def _halves_agree(graph: Graph, reg: Registration) -> bool:
    """Whether the inits down the chain guard the name alike in both halves (else that is the finding)."""
    for target in final_targets(graph, reg):
        inits = {inner.init for inner in graph.of_name(reg.name) if inner.target == target}
        for rel in inits:
            halves: dict[str, set[frozenset[str]]] = defaultdict(set)
            for inner in graph.of_name(reg.name):
                if inner.init == rel and inner.block.guard is not None:
                    halves[inner.half].add(inner.backends)
            if halves.get("structure") and halves.get("typing") and halves["structure"] != halves["typing"]:
                return False
    return True


def _check_guards(graph: Graph, tree: SourceTree) -> list[Finding]:
    out = []
    by_name: dict[str, list[Registration]] = defaultdict(list)
    for reg in graph.in_init(TOP_INIT):
        if reg.half == "structure" and reg.block.guard is not None:
            by_name[reg.name].append(reg)
    for name, regs in by_name.items():
        inner = _innermost_guards(graph, regs[0])
        if len(inner) != 1 or not _halves_agree(graph, regs[0]):
            continue
        needed = next(iter(inner))
        for reg in regs:
            if reg.backends != needed and not needed <= reg.backends:
                out.append(
                    Finding(
                        "wrong-backend-block",
                        "error",
                        reg.init,
                        reg.line,
                        name,
                        f"{name} is in the top-level {_fmt(reg.backends)} block, but its package loads it under "
                        f"{_fmt(needed)}; its dummy is generated for the wrong backends.",
                        f"Move it to the {_fmt(needed)} block (both halves) and regenerate the dummies.",
                        True,
                    )
                )
            elif reg.backends != needed:
                out.append(
                    Finding(
                        "wrong-backend-block",
                        "warning",
                        reg.init,
                        reg.line,
                        name,
                        f"{name} is in the top-level {_fmt(reg.backends)} block, but its package needs only "
                        f"{_fmt(needed)}.",
                        f"Move it to the {_fmt(needed)} block (both halves).",
                        True,
                    )
                )
    # The guard that loads a name from its module must cover what the module imports at module level.
    imports_of: dict[str, tuple[set[str], list[str]]] = {}
    for reg in graph.registrations:
        if reg.target_kind != "module" or reg.half not in ("structure", "plain") or reg.block.guard is None:
            continue
        top_package = reg.target.split("/")[0]
        if top_package not in ("pipelines", "modular_pipelines", "schedulers"):
            continue  # upstream keeps every model in the torch block whatever it imports
        if reg.target not in imports_of:
            imports_of[reg.target] = module_backends(tree, reg.target)
        needed, reasons = imports_of[reg.target]
        missing = needed - reg.block.effective_backends
        if missing:
            out.append(
                Finding(
                    "guard-misses-backend",
                    "warning",
                    reg.init,
                    reg.line,
                    reg.name,
                    f"{reg.name} is loaded under a {_fmt(reg.block.effective_backends)} guard, but {reg.target} "
                    f"needs {_fmt(missing)} too ({'; '.join(reasons)}): without it the import fails instead of "
                    "giving the dummy.",
                    f"Register it under {_fmt(reg.block.effective_backends | missing)} (every init and the dummies).",
                    True,
                )
            )
    for rel, parsed in graph.inits.items():
        for block in parsed.blocks():
            if block.guard is None or block.node is None or not isinstance(block.node, ast.Try):
                continue
            test = block.node.body[0].test
            if isinstance(test, ast.BoolOp) and any(not isinstance(value, ast.UnaryOp) for value in test.values):
                if any(isinstance(value, ast.UnaryOp) for value in test.values):
                    out.append(
                        Finding(
                            "guard-malformed",
                            "warning",
                            rel,
                            block.node.body[0].lineno,
                            None,
                            f"The guard `{ast.unparse(test)}` does not raise when only one backend is missing "
                            "(a backend call sits outside the `not (...)`).",
                            f"Write it as `not ({' and '.join(f'is_{b}_available()' for b in block.guard.backends)})`.",
                            False,
                        )
                    )
    return out


# ------------------------------------------------------------------------------------------ sorting


def _check_sorting(graph: Graph) -> list[Finding]:
    out = []
    for rel, parsed in graph.inits.items():
        top = rel == TOP_INIT
        halves = ("structure", "typing") if parsed.kind == "lazy" else ("plain",)
        for half in halves:
            for block in parsed.blocks(half):
                for entry in block.entries:
                    if entry.kind == "import":
                        index = first_unsorted(entry.names, ruff_member_key)
                        rule = "ruff's isort order"
                    elif top and entry.kind != "dict":
                        index = first_unsorted(entry.names, init_isort_key)
                        rule = "upstream's custom_init_isort order"
                    else:
                        continue
                    if index is not None:
                        item = entry.items[index]
                        out.append(
                            Finding(
                                "unsorted-list",
                                "error",
                                rel,
                                item.line,
                                item.name,
                                f"{item.name} sorts before {entry.items[index - 1].name} in {rule}.",
                                f"Sort the list (constants, classes, functions; {rule}); registering any of its "
                                "names does it.",
                                True,
                            )
                        )
                for run in _import_runs(block):
                    index = first_unsorted([entry.key for entry in run], ruff_module_key)
                    if index is not None:
                        entry = run[index]
                        out.append(
                            Finding(
                                "unsorted-list",
                                "error",
                                rel,
                                entry.start,
                                entry.names[0],
                                f"`from .{entry.key} import` sorts before `from .{run[index - 1].key} import`.",
                                "Sort the import statements by module: `ruff check --select I --fix` on the file.",
                                False,
                            )
                        )
                if top and half == "structure":
                    keys = [entry for entry in block.entries if entry.kind in ("assign", "extend", "append")]
                    index = first_unsorted([entry.key for entry in keys], lambda key: key)
                    if index is not None:
                        entry = keys[index]
                        out.append(
                            Finding(
                                "unsorted-list",
                                "error",
                                rel,
                                entry.start,
                                entry.names[0] if entry.names else None,
                                f'`_import_structure["{entry.key}"]` comes after `{keys[index - 1].key}`.',
                                "Order the `_import_structure[...]` statements of the block by key.",
                                True,
                            )
                        )
    return out


def _import_runs(block) -> list[list]:
    """Maximal runs of adjacent `from .x import` statements of a block (ruff sorts each run on its own)."""
    by_node = {id(entry.node): entry for entry in block.entries if entry.kind == "import"}
    runs, current = [], []
    for stmt in block.body:
        entry = by_node.get(id(stmt))
        if entry is not None:
            current.append(entry)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


# ------------------------------------------------------------------------------------------ dummies


def _check_dummies(graph: Graph, tree: SourceTree) -> list[Finding]:
    out = []
    top_text = tree.read(TOP_INIT) or ""
    generated = generate_dummy_files(top_text)
    objects = read_backend_objects(top_text)
    top_lines = {}
    for reg in graph.in_init(TOP_INIT):
        if reg.half == "typing":
            top_lines.setdefault(reg.name, reg.line)
    for rel, expected in generated.items():
        actual = tree.read(rel)
        if actual is None:
            out.append(
                Finding(
                    "dummy-file-missing",
                    "error",
                    rel,
                    None,
                    None,
                    f"{rel} does not exist, but the top-level init imports it for "
                    f"{len(names_in_dummy_file(expected))} names.",
                    "Regenerate the dummy files.",
                    True,
                )
            )
            continue
        if actual == expected:
            continue
        want = names_in_dummy_file(expected)
        have = names_in_dummy_file(actual)
        have_lines = _dummy_lines(actual)
        for name in want:
            if name not in have:
                following = [other for other in want[want.index(name) + 1 :] if other in have_lines]
                # The line the entry belongs before: the next generated entry the file does have.
                line = have_lines[following[0]] if following else actual.count("\n") + 1
                out.append(
                    Finding(
                        "dummy-missing",
                        "error",
                        rel,
                        line,
                        name,
                        f"{name} has no dummy in {rel} (it belongs just before this line): without "
                        f"{'+'.join(_backends_of(objects, name))}, `from diffusers import {name}` fails instead of "
                        "raising the backend error.",
                        "Regenerate the dummy file.",
                        True,
                    )
                )
        for name in have:
            if name not in want:
                out.append(
                    Finding(
                        "dummy-extra",
                        "error",
                        rel,
                        have_lines.get(name),
                        name,
                        f"{rel} defines a dummy {name}, but the top-level TYPE_CHECKING half does not register it "
                        "under this backend.",
                        "Regenerate the dummy file (or register the name under this backend).",
                        True,
                    )
                )
        if set(want) == set(have):
            line = _first_difference(actual, expected)
            out.append(
                Finding(
                    "dummy-stale",
                    "error",
                    rel,
                    line,
                    None,
                    f"{rel} differs from what upstream's generator writes (first difference at line {line}).",
                    "Regenerate the dummy file.",
                    True,
                )
            )
    for rel in sorted(rel for rel in tree.mentions("DummyObject") if rel.startswith("utils/dummy_")):
        if rel in generated:
            continue
        module = rel.rsplit("/", 1)[-1][: -len(".py")]
        if module in top_text:
            names = names_in_dummy_file(tree.read(rel) or "")
            out.append(
                Finding(
                    "dummy-unmanaged",
                    "info",
                    rel,
                    None,
                    names[0] if len(names) == 1 else None,
                    f"{rel} ({', '.join(names)}) is not written by upstream's generator: its TYPE_CHECKING block "
                    "shares the `torch` key with a later block, which replaces it; `make fix-copies` never "
                    "updates it.",
                    "Keep it in step by hand, or give the block its own backend condition.",
                    False,
                )
            )
    return out


def _backends_of(objects: dict[str, list[str]], name: str) -> list[str]:
    for key, names in objects.items():
        if name in names:
            return key.split("_and_")
    return ["its backends"]


def _dummy_lines(text: str) -> dict[str, int]:
    lines = {}
    for number, line in enumerate(text.split("\n"), start=1):
        for prefix in ("class ", "def "):
            if line.startswith(prefix):
                lines[line[len(prefix) :].split("(")[0]] = number
        if line.endswith(" = None") and not line.startswith(" "):
            lines[line.split(" ")[0]] = number
    return lines


def _first_difference(actual: str, expected: str) -> int:
    matcher = difflib.SequenceMatcher(None, actual.split("\n"), expected.split("\n"), autojunk=False)
    for tag, i1, _, _, _ in matcher.get_opcodes():
        if tag != "equal":
            return i1 + 1
    return 1
