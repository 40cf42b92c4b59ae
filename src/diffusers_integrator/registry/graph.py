"""The registration graph: every init reachable from the top level, and every name each one registers.

A registration points at a target: `_import_structure["pipelines"]` and `from .pipelines import X` point at
the `pipelines` package init, `_import_structure["pipeline_flux"]` at the module `pipeline_flux.py`,
`_import_structure["transformers.transformer_flux"]` (models' dotted keys) at a module inside a plain
family package. Following targets from `__init__.py` reaches every init that takes part in lazy imports.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal

from .model import Block, Entry, Half, ParsedInit
from .tree import SourceTree, read_init


TOP_INIT = "__init__.py"
TargetKind = Literal["lazy", "plain", "module", "missing"]


@dataclass
class Registration:
    name: str
    init: str  # rel path of the init that holds it
    half: Half
    block: Block
    entry: Entry
    line: int
    target: str  # rel path of the package init or module the key points at
    target_kind: TargetKind

    @property
    def key(self) -> str:
        return self.entry.key

    @property
    def backends(self) -> frozenset[str]:
        return self.block.placement_backends


@dataclass
class Graph:
    inits: dict[str, ParsedInit] = field(default_factory=dict)
    registrations: list[Registration] = field(default_factory=list)
    _by_init: dict[str, list[Registration]] = field(default_factory=dict, repr=False)
    _final: dict[tuple[str, str, str, str], frozenset[str]] = field(default_factory=dict, repr=False)
    _by_name: dict[str, list[Registration]] = field(default_factory=dict, repr=False)

    def of_name(self, name: str) -> list[Registration]:
        if not self._by_name:
            for reg in self.registrations:
                self._by_name.setdefault(reg.name, []).append(reg)
        return self._by_name.get(name, [])

    def in_init(self, rel: str) -> list[Registration]:
        if not self._by_init:
            for reg in self.registrations:
                self._by_init.setdefault(reg.init, []).append(reg)
        return self._by_init.get(rel, [])


def package_dir_of(init_rel: str) -> str:
    """`pipelines/flux/__init__.py` → `pipelines/flux`; the top init → ``."""
    return posixpath.dirname(init_rel)


def join(folder: str, *parts: str) -> str:
    return posixpath.join(folder, *parts) if folder else posixpath.join(*parts)


def resolve_key(tree: SourceTree, init_rel: str, key: str) -> tuple[str, TargetKind]:
    """Where `_import_structure[key]` / `from .key import` of `init_rel` points."""
    base = join(package_dir_of(init_rel), *key.split("."))
    init_text = tree.read(f"{base}/__init__.py")
    if init_text is not None:
        return f"{base}/__init__.py", "lazy" if "_import_structure" in init_text else "plain"
    if tree.read(f"{base}.py") is not None:
        return f"{base}.py", "module"
    return f"{base}.py", "missing"


def build_graph(tree: SourceTree, start: str = TOP_INIT) -> Graph:
    """Parses every init reachable from `start` through registration keys."""
    graph = Graph()
    pending = [start]
    resolved: dict[tuple[str, str], tuple[str, TargetKind]] = {}
    while pending:
        rel = pending.pop()
        if rel in graph.inits:
            continue
        parsed = read_init(tree, rel)
        if parsed is None:
            continue
        graph.inits[rel] = parsed
        halves: tuple[Half, ...] = ("structure", "typing") if parsed.kind == "lazy" else ("plain",)
        for half in halves:
            for block, entry in parsed.entries(half):
                if (rel, entry.key) not in resolved:
                    resolved[(rel, entry.key)] = resolve_key(tree, rel, entry.key)
                target, kind = resolved[(rel, entry.key)]
                if kind in ("lazy", "plain") and target not in graph.inits:
                    pending.append(target)
                for item in entry.items:
                    graph.registrations.append(
                        Registration(item.name, rel, half, block, entry, item.line, target, kind)
                    )
    return graph


def final_targets(graph: Graph, reg: Registration) -> frozenset[str]:
    """Module files (or, where the chain breaks, the package init) a registration ends at.

    `from .pipelines import X` at the top level ends where `pipelines/__init__.py` sends X, and so on down to
    the module that defines it.
    """
    memo = graph._final
    key = (reg.init, reg.half, reg.key, reg.name)
    if key in memo:
        return memo[key]
    memo[key] = frozenset({reg.target})  # guards against cycles
    if reg.target_kind in ("module", "missing"):
        return memo[key]
    sub = graph.inits.get(reg.target)
    if sub is None:
        return memo[key]
    half = "plain" if sub.kind == "plain" else ("structure" if reg.half == "plain" else reg.half)
    found: set[str] = set()
    for inner in graph.in_init(reg.target):
        if inner.name == reg.name and inner.half == half:
            found |= final_targets(graph, inner)
    memo[key] = frozenset(found) if found else frozenset({reg.target})
    return memo[key]
