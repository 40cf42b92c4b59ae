"""A parsed model of one diffusers `__init__.py`: which names it registers, under which backend guard, and where.

diffusers has two kinds of package init:

* **lazy** inits (the top level, `models/`, `pipelines/`, `pipelines/<x>/`, `schedulers/`, `modular_pipelines/`,
  …) hold `_import_structure` entries under backend guards (the *structure* half) and mirror them as
  `from .x import ...` under `if TYPE_CHECKING or DIFFUSERS_SLOW_IMPORT:` (the *typing* half);
* **plain** inits (the model families `models/transformers/`, `models/unets/`, …) import their names directly,
  optionally under `if is_torch_available():`.

The parser keeps the line of every statement and every name, so the editor can splice one statement and leave
every other byte of the file alone, and the checker can point at the exact line.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field
from typing import Literal

from ..syntax import parse


Half = Literal["structure", "typing", "plain"]
EntryKind = Literal["assign", "extend", "append", "augassign", "update", "dict", "import"]
# Kinds whose names sit in a list literal we splice by columns (the statement around it is left alone).
VALUE_KINDS = ("dict", "update", "augassign")
STRUCTURE_KINDS = ("assign", "extend", "append", "augassign", "update")

_AVAILABLE = re.compile(r"^is_(\w+)_available$")


@dataclass
class NameItem:
    name: str
    line: int


@dataclass
class Entry:
    """One statement (or dict-literal item) that registers names under a key."""

    kind: EntryKind
    key: str  # `_import_structure` key, or the module of `from .<key> import`
    items: list[NameItem]
    start: int  # first line of the statement, 1-based
    end: int  # last line, inclusive
    indent: str
    exploded: bool  # ruff's magic trailing comma: keep one name per line
    node: ast.AST | None = None

    @property
    def names(self) -> list[str]:
        return [item.name for item in self.items]


@dataclass
class Guard:
    backends: tuple[str, ...]  # in the order the condition names them
    extra: bool = False  # the condition also checks something else (a version)
    dummy_module: str | None = None  # `dummy_pt_objects`, from the except branch

    @property
    def backend_set(self) -> frozenset[str]:
        return frozenset(self.backends)


@dataclass
class Block:
    """The statements guarded by one backend check (or none)."""

    half: Half
    guard: Guard | None
    node: ast.stmt | None  # the `try` / `if` statement; None for module-level or dict-literal entries
    body: list[ast.stmt]  # statements of the `else:` (try) or `if` body
    entries: list[Entry] = field(default_factory=list)
    children: list[Block] = field(default_factory=list)
    parent: Block | None = None

    @property
    def backend_set(self) -> frozenset[str]:
        """The backends of this block's own guard (nested guards are linked to their dummy module, not nested)."""
        return self.guard.backend_set if self.guard else frozenset()

    @property
    def effective_backends(self) -> frozenset[str]:
        """This guard and the guards it is nested in: what must be installed for the body to run."""
        return self.backend_set | (self.parent.effective_backends if self.parent else frozenset())

    @property
    def placement_backends(self) -> frozenset[str]:
        """The guard a name registered here sits under, as upstream reads it.

        A plain `if is_x_available():` nested in another (`loaders/__init__.py`: transformers inside torch) adds
        to its parent: the names need both. A nested `try` guard names every backend itself and links its own
        dummy file (the onnx blocks of `pipelines/__init__.py`), so it stands alone.
        """
        if isinstance(self.node, ast.If) and self.parent is not None:
            return self.backend_set | self.parent.placement_backends
        return self.backend_set

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class ParsedInit:
    rel: str  # path relative to the diffusers package, e.g. `pipelines/flux/__init__.py`
    text: str
    lines: list[str]  # without line ends
    kind: Literal["lazy", "plain"]
    tree: ast.Module
    structure: list[Block] = field(default_factory=list)  # top-level blocks of the structure half
    typing: list[Block] = field(default_factory=list)  # top-level blocks of the typing half (or plain imports)
    typing_node: ast.If | None = None
    dict_node: ast.Dict | None = None  # the `_import_structure = {...}` literal
    dict_stmt: ast.Assign | None = None
    dummy_dict_name: str = "_dummy_objects"

    def blocks(self, half: Half | None = None):
        roots = {"structure": self.structure, "typing": self.typing, "plain": self.typing}
        halves = [half] if half else ["structure", "typing"]
        seen = set()
        for name in halves:
            for root in roots[name]:
                for block in root.walk():
                    if id(block) not in seen:
                        seen.add(id(block))
                        yield block

    def entries(self, half: Half | None = None):
        for block in self.blocks(half):
            for entry in block.entries:
                yield block, entry

    def dict_keys(self) -> list[str]:
        if self.dict_node is None:
            return []
        return [k.value for k in self.dict_node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]

    @property
    def package_depth(self) -> int:
        """How many dots reach the diffusers package from here (`..` from `pipelines/__init__.py`)."""
        return self.rel.count("/") + 1


# ---------------------------------------------------------------------------------------------- helpers


def _calls_in_order(node: ast.AST) -> list[ast.Call]:
    found: list[ast.Call] = []

    def visit(current: ast.AST) -> None:
        if isinstance(current, ast.Call):
            found.append(current)
        for child in ast.iter_child_nodes(current):
            visit(child)

    visit(node)
    return found


def parse_guard_test(test: ast.AST) -> Guard:
    """`not (is_torch_available() and is_transformers_available())` → Guard(("torch", "transformers"))."""
    backends: list[str] = []
    extra = False
    for call in _calls_in_order(test):
        func = call.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        match = _AVAILABLE.match(name)
        if match:
            if match.group(1) not in backends:
                backends.append(match.group(1))
        else:
            extra = True
    return Guard(tuple(backends), extra)


def _is_structure_subscript(node: ast.AST) -> str | None:
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "_import_structure"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.slice.value
    return None


def _string_items(node: ast.AST) -> list[NameItem] | None:
    if not isinstance(node, ast.List | ast.Tuple):
        return None
    items = []
    for elt in node.elts:
        if not (isinstance(elt, ast.Constant) and isinstance(elt.value, str)):
            return None
        items.append(NameItem(elt.value, elt.lineno))
    return items


def _has_magic_comma(lines: list[str], last: ast.AST, closing_line: int, closing_col: int) -> bool:
    """True when a comma follows the last element before the closing bracket (ruff keeps such lists exploded)."""
    start_line, start_col = last.end_lineno, last.end_col_offset
    if start_line == closing_line:
        between = lines[start_line - 1][start_col:closing_col]
    else:
        between = lines[start_line - 1][start_col:] + "".join(
            lines[i - 1] for i in range(start_line + 1, closing_line + 1)
        )
    return "," in between.split("#")[0]


def _list_exploded(lines: list[str], node: ast.AST) -> bool:
    if not isinstance(node, ast.List | ast.Tuple) or not node.elts:
        return False
    # The closing bracket is the last character of the node.
    return _has_magic_comma(lines, node.elts[-1], node.end_lineno, node.end_col_offset - 1)


def _indent_of(lines: list[str], line: int) -> str:
    text = lines[line - 1]
    return text[: len(text) - len(text.lstrip())]


def structure_entries(lines: list[str], stmt: ast.stmt) -> list[Entry]:
    """Entries of one statement: `_import_structure["k"] = [...]`, `.extend([...])`, `.append("x")`,
    `_import_structure["k"] += [...]`, or one entry per key of `_import_structure.update({...})`."""
    single = structure_entry(lines, stmt)
    if single is not None:
        return [single]
    if (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and stmt.value.func.attr == "update"
        and isinstance(stmt.value.func.value, ast.Name)
        and stmt.value.func.value.id == "_import_structure"
        and len(stmt.value.args) == 1
        and isinstance(stmt.value.args[0], ast.Dict)
    ):
        out = []
        for key, value in zip(stmt.value.args[0].keys, stmt.value.args[0].values, strict=True):
            items = _string_items(value)
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and items is not None:
                indent = _indent_of(lines, key.lineno)
                out.append(
                    Entry(
                        "update",
                        key.value,
                        items,
                        key.lineno,
                        value.end_lineno,
                        indent,
                        _list_exploded(lines, value),
                        value,
                    )
                )
        return out
    return []


def structure_entry(lines: list[str], stmt: ast.stmt) -> Entry | None:
    """`_import_structure["k"] = [...]`, `.extend([...])` or `.append("x")` as an Entry; None for anything else."""
    indent = _indent_of(lines, stmt.lineno)
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add):
        key = _is_structure_subscript(stmt.target)
        items = _string_items(stmt.value)
        if key is not None and items is not None:
            exploded = _list_exploded(lines, stmt.value)
            return Entry("augassign", key, items, stmt.lineno, stmt.end_lineno, indent, exploded, stmt.value)
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        key = _is_structure_subscript(stmt.targets[0])
        items = _string_items(stmt.value)
        if key is not None and items is not None:
            exploded = _list_exploded(lines, stmt.value)
            return Entry("assign", key, items, stmt.lineno, stmt.end_lineno, indent, exploded, stmt)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        if isinstance(call.func, ast.Attribute) and call.func.attr in ("extend", "append") and len(call.args) == 1:
            key = _is_structure_subscript(call.func.value)
            if key is None:
                return None
            arg = call.args[0]
            if call.func.attr == "append":
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    item = NameItem(arg.value, arg.lineno)
                    return Entry("append", key, [item], stmt.lineno, stmt.end_lineno, indent, False, stmt)
                return None
            items = _string_items(arg)
            if items is not None:
                exploded = _list_exploded(lines, arg)
                return Entry("extend", key, items, stmt.lineno, stmt.end_lineno, indent, exploded, stmt)
    return None


def import_entry(lines: list[str], stmt: ast.stmt) -> Entry | None:
    """`from .<key> import A, B` (one dot, no star) as an Entry."""
    if not (isinstance(stmt, ast.ImportFrom) and stmt.level == 1 and stmt.module):
        return None
    if any(alias.name == "*" for alias in stmt.names):
        return None
    items = [NameItem(alias.asname or alias.name, alias.lineno) for alias in stmt.names]
    last = stmt.names[-1]
    exploded = stmt.end_lineno > stmt.lineno and _has_magic_comma(
        lines, last, stmt.end_lineno, stmt.end_col_offset - 1
    )
    indent = _indent_of(lines, stmt.lineno)
    return Entry("import", stmt.module, items, stmt.lineno, stmt.end_lineno, indent, exploded, stmt)


def _dummy_module_of(handlers: list[ast.ExceptHandler]) -> str | None:
    for handler in handlers:
        for stmt in handler.body:
            if isinstance(stmt, ast.ImportFrom):
                module = stmt.module or ""
                last = module.rsplit(".", 1)[-1]
                if last.startswith("dummy_") and last.endswith("_objects"):
                    return last
                for alias in stmt.names:
                    if alias.name.startswith("dummy_") and alias.name.endswith("_objects"):
                        return alias.name
    return None


def _guarded(stmt: ast.stmt) -> tuple[Guard, list[ast.stmt]] | None:
    """A backend guard: `try: if not ...: raise ... except ...: ... else: BODY` or `if is_x_available(): BODY`."""
    if isinstance(stmt, ast.Try) and stmt.orelse and stmt.body and isinstance(stmt.body[0], ast.If):
        guard = parse_guard_test(stmt.body[0].test)
        if guard.backends or guard.extra:
            guard.dummy_module = _dummy_module_of(stmt.handlers)
            return guard, stmt.orelse
    if isinstance(stmt, ast.If) and not stmt.orelse:
        guard = parse_guard_test(stmt.test)
        if guard.backends and not guard.extra and not isinstance(stmt.test, ast.UnaryOp):
            return guard, stmt.body
    return None


def _is_typing_if(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.If):
        return False
    names = {node.id for node in ast.walk(stmt.test) if isinstance(node, ast.Name)}
    return "TYPE_CHECKING" in names


def _collect(lines: list[str], half: Half, block: Block) -> None:
    for stmt in block.body:
        if half == "structure":
            entries = structure_entries(lines, stmt)
        else:
            entry = import_entry(lines, stmt)
            entries = [entry] if entry is not None else []
        if entries:
            block.entries.extend(entries)
            continue
        guarded = _guarded(stmt)
        if guarded is not None:
            child = Block(half, guarded[0], stmt, guarded[1], parent=block)
            _collect(lines, half, child)
            block.children.append(child)


# ---------------------------------------------------------------------------------------------- parsing


def parse_init(rel: str, text: str) -> ParsedInit:
    """Parses any diffusers `__init__.py` (lazy or plain)."""
    tree = parse(text)
    lines = text.split("\n")
    if "_import_structure" in text:
        return _parse_lazy(rel, text, lines, tree)
    return _parse_plain(rel, text, lines, tree)


def _parse_lazy(rel: str, text: str, lines: list[str], tree: ast.Module) -> ParsedInit:
    parsed = ParsedInit(rel, text, lines, "lazy", tree)
    loose_structure = Block("structure", None, None, [])
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target = stmt.targets[0].id
            if target == "_import_structure" and isinstance(stmt.value, ast.Dict):
                parsed.dict_node, parsed.dict_stmt = stmt.value, stmt
                dict_block = Block("structure", None, None, [])
                for key, value in zip(stmt.value.keys, stmt.value.values, strict=True):
                    items = _string_items(value)
                    if isinstance(key, ast.Constant) and isinstance(key.value, str) and items is not None:
                        exploded = _list_exploded(lines, value)
                        dict_block.entries.append(
                            Entry("dict", key.value, items, key.lineno, value.end_lineno, "", exploded, value)
                        )
                parsed.structure.append(dict_block)
            elif target.startswith("_dummy_") and isinstance(stmt.value, ast.Dict):
                parsed.dummy_dict_name = target
            continue
        if _is_typing_if(stmt):
            parsed.typing_node = stmt
            loose_typing = Block("typing", None, stmt, stmt.body)
            _collect(lines, "typing", loose_typing)
            # Guarded blocks become roots of their own; loose imports stay in the unguarded root.
            parsed.typing.append(loose_typing)
            for child in loose_typing.children:
                child.parent = None
                parsed.typing.append(child)
            loose_typing.children = []
            continue
        guarded = _guarded(stmt)
        if guarded is not None:
            block = Block("structure", guarded[0], stmt, guarded[1])
            _collect(lines, "structure", block)
            parsed.structure.append(block)
            continue
        entries = structure_entries(lines, stmt)
        if entries:
            loose_structure.entries.extend(entries)
            loose_structure.body.append(stmt)
    if loose_structure.entries:
        parsed.structure.append(loose_structure)
    return parsed


def _parse_plain(rel: str, text: str, lines: list[str], tree: ast.Module) -> ParsedInit:
    parsed = ParsedInit(rel, text, lines, "plain", tree)
    loose = Block("plain", None, None, list(tree.body))
    for stmt in tree.body:
        entry = import_entry(lines, stmt)
        if entry is not None:
            loose.entries.append(entry)
            continue
        guarded = _guarded(stmt)
        if guarded is not None:
            block = Block("plain", guarded[0], stmt, guarded[1])
            for inner in guarded[1]:
                inner_entry = import_entry(lines, inner)
                if inner_entry is not None:
                    block.entries.append(inner_entry)
            parsed.typing.append(block)
    parsed.typing.insert(0, loose)
    return parsed


# ---------------------------------------------------------------------------------------------- module files


_DEF_PATTERNS = (r"^\s*(?:class|def|async\s+def)\s+{0}\b", r"^\s*{0}\s*(?::|=)")
_IMPORT_LINE = re.compile(r"^\s*(?:from\s+\S+\s+)?import\s+(.*)$", re.M)


@functools.lru_cache(maxsize=8192)
def defines_name(source: str, name: str) -> bool:
    """Whether a module defines or imports `name` at any level (a fast textual check, no import)."""
    if name not in source or not re.search(rf"\b{re.escape(name)}\b", source):
        return False
    escaped = re.escape(name)
    for pattern in _DEF_PATTERNS:
        if re.search(pattern.format(escaped), source, re.M):
            return True
    for match in _IMPORT_LINE.finditer(source):
        if re.search(rf"\b{escaped}\b", match.group(1)):
            return True
    # A name on its own line inside a parenthesised `from x import (...)`.
    for block in re.finditer(r"^\s*from\s+\S+\s+import\s*\(([^)]*)\)", source, re.M):
        if re.search(rf"^\s*{escaped}(?:\s+as\s+\w+)?\s*,?\s*$|\bas\s+{escaped}\b", block.group(1), re.M):
            return True
    return False
