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
        return self.block.backend_set


@dataclass
class Graph:
    inits: dict[str, ParsedInit] = field(default_factory=dict)
    registrations: list[Registration] = field(default_factory=list)

    def of_name(self, name: str) -> list[Registration]:
        return [r for r in self.registrations if r.name == name]

    def in_init(self, rel: str) -> list[Registration]:
        return [r for r in self.registrations if r.init == rel]


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
