"""The forms upstream writes a package init in, and a new init written in the form of its closest neighbours.

Upstream's lazy package inits agree on what they register but not on how they are laid out: a pipeline
package keeps its output dataclass either in the unguarded initializer `_import_structure = {"pipeline_output":
[...]}` (no TYPE_CHECKING import of it) or under the backend guard with one; the dummy import carries
`# noqa F403`, `# noqa: F403` or nothing; blank lines around `raise`, `else:` and the TYPE_CHECKING branch vary;
some add an `_additional_imports` dict. A package init's *form* is its text with every registration statement
collapsed to one `ENTRY` line, the initializer's content to `INIT`, dummy module names to `DUMMY` and the
licence header dropped (`form_of`).

A new package init is written by filling the form of an existing sibling (`init_like`): the most recently added
siblings when the tree knows when files were added (a git checkout), else all of them; among those whose guards
match and whose form holds nothing but registrations, the form most of them share. The strip-and-restore proof
accepts a re-created init whose form differs from the original only when upstream writes that form too.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections import Counter
from dataclasses import dataclass

from .backends import canonical, guard_condition, package_guard_order
from .edit import render_entry, render_import_names
from .model import ParsedInit
from .sorting import ruff_member_key, ruff_module_key
from .templates import initializer_lines
from .tree import SourceTree, read_init


DUMMY = re.compile(r"dummy_\w+_objects")
_INITIALIZER = re.compile(r"^_import_structure = \{.*?\}$", re.S | re.M)
# Every line a form may hold when it holds nothing but registrations (stripped of indentation).
_PURE = [
    re.compile(pattern)
    for pattern in (
        r"",
        r"from typing import TYPE_CHECKING",
        r"from \.+utils import \(",
        r"from \.+utils import [\w, ]+",
        r"[A-Za-z_]\w*,",
        r"\)",
        r"_dummy_objects = \{\}",
        r"_additional_imports = \{\}",
        r"_import_structure = \{(?:INIT)?\}",
        r"try:",
        r"if not \(?is_\w+_available\(\)(?: and is_\w+_available\(\))*\)?:",
        r"raise OptionalDependencyNotAvailable\(\)",
        r"except OptionalDependencyNotAvailable:",
        r"from \.+utils import DUMMY(?:  # noqa:? ?F403)?",
        r"_dummy_objects\.update\(get_objects_from_module\(DUMMY\)\)",
        r"else:",
        r"ENTRY",
        r"if TYPE_CHECKING or DIFFUSERS_SLOW_IMPORT:",
        r"from \.+utils\.DUMMY import \*(?:  # noqa:? ?F403)?",
        r"import sys",
        r"sys\.modules\[__name__\] = _LazyModule\(",
        r"sys\.modules\[__name__\] = _LazyModule\(__name__, globals\(\)\[\"__file__\"\], _import_structure, "
        r"module_spec=__spec__\)",
        r"__name__,",
        r"globals\(\)\[\"__file__\"\],",
        r"_import_structure,",
        r"module_spec=__spec__,",
        r"for name, value in _dummy_objects\.items\(\):",
        r"for name, value in _additional_imports\.items\(\):",
        r"setattr\(sys\.modules\[__name__\], name, value\)",
    )
]
_UTILS = {"DIFFUSERS_SLOW_IMPORT", "OptionalDependencyNotAvailable", "_LazyModule", "get_objects_from_module"}
_BARE_UTILS = {"DIFFUSERS_SLOW_IMPORT", "_LazyModule"}


def _header_end(lines: list[str]) -> int:
    """Index of the first line after the leading comments and blank lines (a licence header)."""
    index = 0
    while index < len(lines) and (lines[index].startswith("#") or not lines[index].strip()):
        index += 1
    return index


def form_of(parsed: ParsedInit, guards: bool = True) -> str:
    """The init's text with its registrations collapsed: what two inits of the same form share.

    `guards=False` also collapses the guard conditions and the `utils` import (which follows from them): the
    layout alone, for inits guarded by different backends."""
    marks: dict[int, str] = {}
    if not guards:
        for block in parsed.blocks():
            node = block.node
            if block.guard is not None and isinstance(node, ast.Try) and isinstance(node.body[0], ast.If):
                test = node.body[0]
                indent = parsed.lines[test.lineno - 1][: test.col_offset]
                for number in range(test.lineno, test.test.end_lineno + 1):
                    marks[number] = indent + "if not COND:"
        for stmt in parsed.tree.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module == "utils" and stmt.level == parsed.package_depth:
                for number in range(stmt.lineno, stmt.end_lineno + 1):
                    marks[number] = "UTILS"
    halves = ("structure", "typing") if parsed.kind == "lazy" else ("plain",)
    for half in halves:
        for _, entry in parsed.entries(half):
            if entry.kind == "dict":
                continue
            for number in range(entry.start, entry.end + 1):
                marks[number] = entry.indent + "ENTRY"
    out: list[str] = []
    start = _header_end(parsed.lines)
    for number, line in enumerate(parsed.lines[start:], start=start + 1):
        if number in marks:
            if not out or out[-1] != marks[number]:
                out.append(marks[number])
            continue
        out.append(DUMMY.sub("DUMMY", line))
    text = "\n".join(out)
    if parsed.dict_node is not None and parsed.dict_node.keys:
        text = _INITIALIZER.sub("_import_structure = {INIT}", text, count=1)
    return text


def is_pure(form: str) -> bool:
    """Whether a form holds registrations only (no version check, no class, no extra import)."""
    return all(any(pattern.fullmatch(line.strip()) for pattern in _PURE) for line in form.split("\n"))


@dataclass
class Exemplar:
    rel: str
    parsed: ParsedInit
    form: str
    initializer_keys: set[str]
    by_order: bool = False  # guarded by other backends: its blocks take ours in order, conditions rewritten


@dataclass
class Chosen:
    text: str
    note: str


def _guard_sets(parsed: ParsedInit, half: str) -> list[frozenset[str]]:
    return [block.backend_set for block in parsed.blocks(half) if block.guard is not None]


def _utils_names(parsed: ParsedInit) -> set[str] | None:
    import ast

    for stmt in parsed.tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "utils" and stmt.level == parsed.package_depth:
            return {alias.name for alias in stmt.names}
    return None


def _candidates(tree: SourceTree, rel: str, guards: list[frozenset[str]]) -> list[Exemplar]:
    """Sibling package inits (same parent folder) whose guards are `guards` and whose form is pure.

    A package that needs torch alone may also take the unguarded form: upstream writes most torch-only
    pipeline packages (`ddim`, `dit`, `pndm`) without a guard of their own, their parent's torch guard and the
    top-level dummies standing for it.
    """
    parent = posixpath.dirname(posixpath.dirname(rel))
    needed = _UTILS | {f"is_{name}_available" for backends in guards for name in backends}
    bare = guards == [frozenset({"torch"})]
    found = []
    others = []  # same layout but other backends (a package with an unusual guard has no exact sibling)
    for sibling in _sibling_inits(tree, parent):
        if sibling == rel:
            continue
        parsed = read_init(tree, sibling)
        if parsed is None or parsed.kind != "lazy":
            continue
        if any(block.guard is not None and block.guard.extra for block in parsed.blocks()):
            continue
        structure, typing = _guard_sets(parsed, "structure"), _guard_sets(parsed, "typing")
        unguarded = bare and not structure and not typing and _utils_names(parsed) == _BARE_UTILS
        exact = unguarded or (
            sorted(structure, key=sorted) == sorted(guards, key=sorted)
            and sorted(typing, key=sorted) == sorted(guards, key=sorted)
            and _utils_names(parsed) == needed
        )
        own = _UTILS | {f"is_{name}_available" for backends in structure for name in backends}
        alike = (
            not exact
            and len(structure) == len(typing) == len(guards)
            and len(set(structure)) == len(structure)
            and _utils_names(parsed) == own
        )
        if not (exact or alike):
            continue
        form = form_of(parsed)
        if not is_pure(form):
            continue
        keys = {entry.key for _, entry in parsed.entries("structure") if entry.kind == "dict"}
        (found if exact else others).append(Exemplar(sibling, parsed, form, keys, by_order=not exact))
    if found:
        return found
    for other in others:
        other.form = form_of(other.parsed, guards=False)
    return others


def _sibling_inits(tree: SourceTree, parent: str) -> list[str]:
    """`<parent>/<x>/__init__.py` for every sub-package of `parent` the tree can list."""
    lister = getattr(tree, "subpackage_inits", None)
    return sorted(lister(parent)) if lister is not None else []


def _recent(tree: SourceTree, candidates: list[Exemplar], count: int = 5) -> tuple[list[Exemplar], bool]:
    """The `count` most recently added candidates when the tree knows (a git checkout), else all of them."""
    added = getattr(tree, "added_at", None)
    times = added([candidate.rel for candidate in candidates]) if added is not None else {}
    if not times or len(set(times.values())) < 2:
        return candidates, False
    ordered = sorted(candidates, key=lambda candidate: (times.get(candidate.rel, 0), candidate.rel), reverse=True)
    return ordered[:count], True


def init_like(
    tree: SourceTree,
    rel: str,
    initializer: dict[str, list[str]],
    blocks: list[tuple[list[str], str, dict[str, list[str]]]],
    exported_keys: frozenset[str] = frozenset(),
) -> Chosen | None:
    """A new lazy package init in the form of its closest siblings, or None when no sibling's form fits.

    `initializer`: names that need no guard, by module key; `blocks`: (backends, dummy module, {key: names}) per
    guard. Names whose key a sibling keeps in its initializer (`pipeline_output`) follow that sibling's form,
    unless a parent init imports them back (`exported_keys`): its TYPE_CHECKING half reads this init's, where the
    initializer form has no import of them, so only siblings that mirror such a key under TYPE_CHECKING serve.
    """
    guards = [frozenset(backends) for backends, _, _ in blocks]
    candidates = [
        candidate for candidate in _candidates(tree, rel, guards) if not candidate.initializer_keys & exported_keys
    ]
    if not candidates:
        return None
    keys = {key for _, _, modules in blocks for key in modules} | set(initializer)
    # Siblings that register a module of the same role (`pipeline_output`) say where it goes; others say little.
    relevant = [candidate for candidate in candidates if _registered_keys(candidate.parsed) & keys] or candidates
    pool, by_recency = _recent(tree, relevant)
    # First where the module goes (the unguarded initializer or the guard), as most of them put it; then the
    # layout most of those share.
    placements = Counter(bool(candidate.initializer_keys & keys) for candidate in pool)
    placement = max(placements, key=lambda value: (placements[value], not value))
    pool = [candidate for candidate in pool if bool(candidate.initializer_keys & keys) == placement]
    forms = Counter(candidate.form for candidate in pool)
    best_form, count = forms.most_common(1)[0]
    chosen = next(candidate for candidate in pool if candidate.form == best_form)
    text = _fill(chosen, initializer, blocks)
    if text is None:
        return None
    examples = ", ".join(candidate.rel for candidate in pool if candidate.form == best_form)
    output_keys = chosen.initializer_keys & keys
    where = (
        f"`{'`, `'.join(sorted(output_keys))}` in the unguarded `_import_structure = {{...}}` (no TYPE_CHECKING "
        "import of it)"
        if output_keys
        else "every module under the backend guard, mirrored under TYPE_CHECKING"
    )
    among = "the most recently added sibling inits" if by_recency else "the sibling inits"
    split = (
        f"{placements[placement]} of {sum(placements.values())} of {among} that register such a module put it there"
        if len(placements) > 1 or placement
        else f"as all {sum(placements.values())} of {among}"
    )
    note = (
        f"{rel} written with {where}: {split}; laid out as {count} of those ({examples})."
        if keys & {k for c in relevant for k in c.initializer_keys} or placement
        else f"{rel} written with {where}, laid out as {count} of {among} ({examples})."
    )
    return Chosen(text, note)


def _registered_keys(parsed: ParsedInit) -> set[str]:
    return {entry.key for _, entry in parsed.entries("structure")}


def _map_blocks(parsed: ParsedInit, ours: list[frozenset[str]]) -> dict[frozenset[str], frozenset[str]] | None:
    """Our backend sets → the exemplar's, by the order of its structure blocks."""
    theirs = _guard_sets(parsed, "structure")
    if len(theirs) != len(ours):
        return None
    return dict(zip(ours, theirs, strict=True))


def _rewrite_guards(
    parsed: ParsedInit,
    back: dict[frozenset[str], frozenset[str]],
    blocks: list[tuple[list[str], str, dict[str, list[str]]]],
) -> list[tuple[int, int, list[str]]]:
    """Splices that give each exemplar block our condition, and the utils import our names."""
    ours = {frozenset(backends): backends for backends, _, _ in blocks}
    splices = []
    for block in parsed.blocks():
        node = block.node
        if block.guard is None or not isinstance(node, ast.Try) or not isinstance(node.body[0], ast.If):
            continue
        backends = ours[back[block.backend_set]]
        names = block.guard.backends
        transformers_first = "transformers" in names and "torch" in names
        transformers_first = transformers_first and names.index("transformers") < names.index("torch")
        order = package_guard_order(backends) if transformers_first else canonical(backends)
        test = node.body[0]
        indent = parsed.lines[test.lineno - 1][: test.col_offset]
        splices.append((test.lineno, test.test.end_lineno, [f"{indent}if {guard_condition(order)}:"]))
    for stmt in parsed.tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "utils" and stmt.level == parsed.package_depth:
            wanted = _UTILS | {f"is_{name}_available" for backends, _, _ in blocks for name in backends}
            names = sorted(wanted, key=ruff_member_key)
            module = "." * parsed.package_depth + "utils"
            splices.append(
                (stmt.lineno, stmt.end_lineno, render_import_names("", module, names, stmt.end_lineno > stmt.lineno))
            )
    return splices


def _fill(
    exemplar: Exemplar,
    initializer: dict[str, list[str]],
    blocks: list[tuple[list[str], str, dict[str, list[str]]]],
) -> str | None:
    """The exemplar's text with our registrations in place of its own (bottom-up splices)."""
    parsed = exemplar.parsed
    lines = list(parsed.lines)
    # Names of keys the exemplar keeps in its initializer go there (and get no TYPE_CHECKING import).
    initial = {key: list(names) for key, names in initializer.items()}
    guarded: dict[frozenset[str], tuple[str, dict[str, list[str]]]] = {}
    for backends, dummy, modules in blocks:
        kept = {key: names for key, names in modules.items() if key not in exemplar.initializer_keys}
        for key, names in modules.items():
            if key in exemplar.initializer_keys:
                initial.setdefault(key, []).extend(name for name in names if name not in initial.get(key, []))
        guarded[frozenset(backends)] = (dummy, kept)
    splices: list[tuple[int, int, list[str]]] = []
    if exemplar.by_order:
        # Its blocks, in order, take ours in order; conditions and the utils import are rewritten.
        mapping = _map_blocks(parsed, [frozenset(backends) for backends, _, _ in blocks])
        if mapping is None:
            return None
        guarded = {mapping[key]: value for key, value in guarded.items() if key in mapping}
        splices += _rewrite_guards(parsed, {v: k for k, v in mapping.items()}, blocks)
    if not any(block.guard is not None for block in parsed.blocks()):
        # The unguarded form: everything in the initializer, imported back straight under TYPE_CHECKING.
        for _, modules in guarded.values():
            for key, names in modules.items():
                initial.setdefault(key, []).extend(names)
        guarded = {}
        loose = parsed.typing[0] if parsed.typing else None
        if loose is None or not loose.entries:
            return None
        indent = loose.entries[0].indent
        new = [
            line
            for key in sorted(initial, key=ruff_module_key)
            for line in render_entry("import", indent, key, sorted(initial[key], key=ruff_member_key), False)
        ]
        splices.append((min(e.start for e in loose.entries), max(e.end for e in loose.entries), new))
    if any(not modules for _, modules in guarded.values()):
        return None
    for half in ("structure", "typing"):
        for block in parsed.blocks(half):
            if block.guard is None or block.node is None:
                continue
            if block.backend_set not in guarded:
                return None
            dummy, modules = guarded[block.backend_set]
            entries = block.entries
            if not entries:
                return None
            indent = entries[0].indent
            if half == "structure":
                new = [
                    line
                    for key in sorted(modules)
                    for line in render_entry("assign", indent, key, sorted(modules[key], key=ruff_member_key), False)
                ]
            else:
                new = [
                    line
                    for key in sorted(modules, key=ruff_module_key)
                    for line in render_entry("import", indent, key, sorted(modules[key], key=ruff_member_key), False)
                ]
            first, last = min(entry.start for entry in entries), max(entry.end for entry in entries)
            splices.append((first, last, new))
            for number in range(block.node.lineno, first):
                lines[number - 1] = DUMMY.sub(dummy, lines[number - 1])
    if parsed.dict_stmt is None:
        return None
    splices.append((parsed.dict_stmt.lineno, parsed.dict_stmt.end_lineno, initializer_lines(initial)))
    for first, last, new in sorted(splices, reverse=True):
        lines[first - 1 : last] = new
    header = _header_end(lines)
    text = "\n".join(lines[header:])
    return text if text.endswith("\n") else text + "\n"


_CONDITION = re.compile(r"if not .*:$")


def block_layout(lines: list[str]) -> str:
    """A guard block's layout: its lines up to `else:`, with the dummy module and the condition normalised and
    blank lines at the start dropped (what tells two blocks of one init apart when their backends do not)."""
    out = []
    for line in lines:
        out.append(_CONDITION.sub("if not COND:", DUMMY.sub("DUMMY", line)))
        if line.strip() == "else:":
            break
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out)
