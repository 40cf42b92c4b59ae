"""Statement-level edits of one init: ast finds the statement, we re-render only it, every other byte stays.

Rendering follows ruff's formatter (line length 119, the diffusers setting) for the three shapes registrations
take — `_import_structure["k"] = [...]`, `_import_structure["k"].extend([...])` and `from .k import ...` —
including the magic trailing comma: a list upstream wrote one-per-line stays one-per-line.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from ..errors import IntegratorError
from .model import VALUE_KINDS, Block, Entry, Half, ParsedInit
from .sorting import init_isort_key, insert_sorted, ruff_member_key, ruff_module_key
from .tree import parse_cached


LINE_LENGTH = 119


def render_entry(kind: str, indent: str, key: str, names: list[str], exploded: bool) -> list[str]:
    """The lines ruff would format for one registration statement."""
    quoted = [f'"{name}"' for name in names]
    if kind == "import":
        flat = f"{indent}from .{key} import " + ", ".join(names)
        if not exploded and len(flat) <= LINE_LENGTH:
            return [flat]
        return [f"{indent}from .{key} import (", *[f"{indent}    {name}," for name in names], f"{indent})"]
    if kind == "append" and len(names) == 1:
        return [f'{indent}_import_structure["{key}"].append({quoted[0]})']
    if kind in ("extend", "append"):
        head = f'{indent}_import_structure["{key}"].extend('
        flat = head + "[" + ", ".join(quoted) + "])"
        if not exploded and len(flat) <= LINE_LENGTH:
            return [flat]
        middle = f"{indent}    [" + ", ".join(quoted) + "]"
        if not exploded and len(middle) <= LINE_LENGTH:
            return [head, middle, f"{indent})"]
        return [head, f"{indent}    [", *[f"{indent}        {q}," for q in quoted], f"{indent}    ]", f"{indent})"]
    head = f'{indent}_import_structure["{key}"] = ['
    flat = head + ", ".join(quoted) + "]"
    if not exploded and len(flat) <= LINE_LENGTH:
        return [flat]
    if len(quoted) == 1 and not exploded:
        # ruff splits a lone element onto its own line without adding a comma.
        return [head, f"{indent}    {quoted[0]}", f"{indent}]"]
    return [head, *[f"{indent}    {q}," for q in quoted], f"{indent}]"]


def render_import_names(indent: str, module: str, names: list[str], exploded: bool) -> list[str]:
    """`from <module> import ...` for any module text (`..utils`), formatted like ruff."""
    flat = f"{indent}from {module} import " + ", ".join(names)
    if not exploded and len(flat) <= LINE_LENGTH:
        return [flat]
    return [f"{indent}from {module} import (", *[f"{indent}    {name}," for name in names], f"{indent})"]


def is_sorted(names: list[str], key: Callable) -> bool:
    keys = [key(name) for name in names]
    return all(keys[i - 1] <= keys[i] for i in range(1, len(keys)))


class InitEditor:
    """Holds the current text of one init and applies one statement edit at a time (re-parsing in between)."""

    def __init__(self, rel: str, text: str, *, top: bool = False):
        self.rel = rel
        self.text = text
        self.top = top

    @property
    def parsed(self) -> ParsedInit:
        return parse_cached(self.rel, self.text)

    # ------------------------------------------------------------------ primitive splices

    def _splice(self, start: int, end: int, new_lines: list[str]) -> None:
        """Replaces lines start..end (1-based, inclusive; end = start - 1 inserts before `start`)."""
        lines = self.text.split("\n")
        lines[start - 1 : end] = new_lines
        self.text = "\n".join(lines)

    def _line(self, number: int) -> str:
        lines = self.text.split("\n")
        return lines[number - 1] if 1 <= number <= len(lines) else ""

    def replace_entry(self, entry: Entry, names: list[str], kind: str | None = None) -> None:
        kind = kind or entry.kind
        if entry.kind in VALUE_KINDS:
            self._replace_value(entry, names)
            return
        lines = render_entry(kind, entry.indent, entry.key, names, entry.exploded)
        # Keep a comment that trails the statement's last line.
        last = self._line(entry.end)
        node = entry.node
        tail = last[node.end_col_offset :] if node is not None else ""
        if tail.strip().startswith("#"):
            lines[-1] += tail
        self._splice(entry.start, entry.end, lines)

    def _replace_value(self, entry: Entry, names: list[str]) -> None:
        """Rewrites only the list literal of a dict / update / `+=` entry, by columns."""
        node = entry.node
        lines = self.text.split("\n")
        first, last = lines[node.lineno - 1], lines[node.end_lineno - 1]
        if entry.exploded and names:
            indent = " " * (len(first) - len(first.lstrip()) + 4)
            body = [f'{indent}"{name}",' for name in names]
            closing = " " * (len(first) - len(first.lstrip())) + "]"
            new = [first[: node.col_offset] + "[", *body, closing + last[node.end_col_offset :]]
        else:
            quoted = ", ".join(f'"{name}"' for name in names)
            new = [first[: node.col_offset] + f"[{quoted}]" + last[node.end_col_offset :]]
        lines[node.lineno - 1 : node.end_lineno] = new
        self.text = "\n".join(lines)

    def delete_statement(self, node: ast.stmt) -> None:
        start, end = node.lineno, node.end_lineno
        before, after = self._line(start - 1), self._line(end + 1)
        indent = len(self._line(start)) - len(self._line(start).lstrip())
        after_indent = len(after) - len(after.lstrip())
        # Take one neighbouring blank line along, so blocks stay separated by exactly one.
        if not before.strip() and start > 1 and (not after.strip() or after_indent < indent):
            start -= 1
        elif not after.strip() and not before.strip() and start > 1:
            end += 1
        self._splice(start, end, [])

    def insert_after(self, line: int, new_lines: list[str]) -> None:
        self._splice(line + 1, line, new_lines)

    # ------------------------------------------------------------------ names in entries

    def add_to_entry(self, entry: Entry, new: list[str], sort_key: Callable, always_sorted: bool) -> list[str]:
        """Adds the names not yet in `entry`; returns those added (all of `new` when a sorted list had to be
        re-sorted: a list upstream keeps sorted is put back in order when we touch it)."""
        current = entry.names
        missing = [name for name in dict.fromkeys(new) if name not in current]
        if always_sorted and not is_sorted(current, sort_key):
            merged = sorted(dict.fromkeys([*current, *missing]), key=sort_key)
            self.replace_entry(entry, merged, "extend" if entry.kind == "append" and len(merged) > 1 else None)
            return list(dict.fromkeys(new))
        if not missing:
            return []
        keep_sorted = always_sorted or len(current) < 2 or is_sorted(current, sort_key)
        merged = list(current)
        for name in missing:
            merged = insert_sorted(merged, name, sort_key) if keep_sorted else [*merged, name]
        kind = "extend" if entry.kind == "append" and len(merged) > 1 else entry.kind
        self.replace_entry(entry, merged, kind)
        return missing

    def remove_from_entry(self, entry: Entry, names: Iterable[str]) -> list[str]:
        """Removes `names` from the entry; deletes the statement (and an emptied guard block) when nothing is left."""
        gone = set(names)
        removed = [name for name in entry.names if name in gone]
        if not removed:
            return []
        remaining = [name for name in entry.names if name not in gone]
        if remaining or entry.kind in VALUE_KINDS:
            self.replace_entry(entry, remaining)
        else:
            self._delete_entry_statement(entry)
        return removed

    def _delete_entry_statement(self, entry: Entry) -> None:
        parsed = self.parsed
        block = _block_holding(parsed, entry)
        node = entry.node
        if block is not None and block.guard is not None and block.node is not None and _only(block.body, node):
            self._delete_block(block)
        elif parsed.typing_node is not None and _only(parsed.typing_node.body, node):
            self._splice(node.lineno, node.end_lineno, [entry.indent + "pass"])
        else:
            self.delete_statement(node)

    def _delete_block(self, block: Block) -> None:
        """Deletes a guard block; a parent guard or the TYPE_CHECKING branch it leaves empty goes too (or `pass`)."""
        parsed = self.parsed
        node = block.node
        parent = block.parent
        if parent is not None and parent.guard is not None and parent.node is not None and _only(parent.body, node):
            self._delete_block(parent)
        elif parsed.typing_node is not None and _only(parsed.typing_node.body, node):
            self._splice(node.lineno, node.end_lineno, [" " * node.col_offset + "pass"])
        else:
            self.delete_statement(node)


def _only(body: list[ast.stmt], node: ast.AST | None) -> bool:
    return len(body) == 1 and body[0] is node


def _block_holding(parsed: ParsedInit, entry: Entry) -> Block | None:
    for block in [*parsed.blocks(), *parsed.blocks("plain")]:
        if any(candidate.node is entry.node for candidate in block.entries):
            return block
    return None


def find_entry(block: Block, key: str, kinds: tuple[str, ...]) -> Entry | None:
    for entry in block.entries:
        if entry.key == key and entry.kind in kinds:
            return entry
    return None


def entry_insert_line(block: Block, key: str, *, kind: str, keep_key_order: bool) -> int:
    """The line after which a new statement for `key` goes in `block` (0 = before the first statement)."""
    if kind == "import":
        direct = [entry for entry in block.entries if entry.kind == "import"]
        below = [entry for entry in direct if ruff_module_key(entry.key) <= ruff_module_key(key)]
        if below:
            return max(below, key=lambda entry: ruff_module_key(entry.key)).end
        if direct:
            return direct[0].start - 1
        return block.body[0].lineno - 1 if block.body else 0
    direct = [entry for entry in block.entries if entry.kind in ("assign", "extend", "append", "augassign")]
    if not direct:
        return block.body[0].lineno - 1 if block.body else 0
    if keep_key_order:
        below = [entry for entry in direct if entry.key <= key]
        if below:
            return below[-1].end
        return direct[0].start - 1
    # Upstream keeps no order here (`pipelines/__init__.py` has `flux2` before `flux`, recent packages both
    # appended and inserted), but most of a block reads alphabetically. A variant of a package goes right after it
    # (`lumina2` after `lumina`); any other statement between two neighbours it sorts between, as a contributor
    # slotting it in by eye would (`diffusion_gemma` between `deepfloyd_if` and `dreamlite`, not after the
    # `deprecated` statement at the block's head); else right after its alphabetical predecessor, else right
    # before its successor. Removing and re-adding each statement of upstream's unsorted guarded blocks puts it
    # back where upstream has it 69 times in 130 (the predecessor alone: 60).
    below = [entry for entry in direct if entry.key <= key]
    predecessor = max((entry.key for entry in below), default=None)
    gap = None if predecessor is not None and key.startswith(predecessor) else _sorted_gap(direct, key)
    if gap is not None:
        return gap
    if below:
        return max(entry.end for entry in below if entry.key == predecessor)
    best = min(entry.key for entry in direct)
    return min(entry.start for entry in direct if entry.key == best) - 1


def _sorted_gap(direct: list[Entry], key: str) -> int | None:
    """The line after which `key` sits between two neighbours it sorts between (of several such pairs, the one
    with the largest predecessor), or None. Only between two statements: the head and the tail of upstream's
    blocks hold statements out of order (`deprecated` first), so a key that sorts before the first or after the
    last says nothing there."""
    best: tuple[str, int] | None = None
    for before, after in zip(direct, direct[1:]):
        if before.key <= key <= after.key and (best is None or before.key > best[0]):
            best = (before.key, before.end)
    return None if best is None else best[1]


def keys_sorted(block: Block) -> bool:
    keys = [entry.key for entry in block.entries if entry.kind in ("assign", "extend", "append")]
    return keys == sorted(keys)


def new_entry_lines(
    parsed: ParsedInit, half: Half, block: Block, key: str, names: list[str], *, top: bool
) -> tuple[list[str], int]:
    """Lines of a new registration statement for `key` in `block`, and the line to insert after."""
    if half == "structure":
        indent = _body_indent(parsed, block)
        kind = "extend" if key in parsed.dict_keys() else "assign"
        # The top level's lists are sorted by upstream's custom_init_isort; others by hand, as ruff sorts imports.
        ordered = sorted(dict.fromkeys(names), key=init_isort_key if top else ruff_member_key)
        lines = render_entry(kind, indent, key, ordered, False)
        after = entry_insert_line(block, key, kind=kind, keep_key_order=top or keys_sorted(block))
        return lines, after
    indent = _body_indent(parsed, block)
    ordered = sorted(dict.fromkeys(names), key=ruff_member_key)
    lines = render_entry("import", indent, key, ordered, False)
    return lines, entry_insert_line(block, key, kind="import", keep_key_order=True)


def _body_indent(parsed: ParsedInit, block: Block) -> str:
    if block.body:
        line = parsed.lines[block.body[0].lineno - 1]
        return line[: len(line) - len(line.lstrip())]
    if block.node is not None:
        return " " * (block.node.col_offset + 4)
    raise IntegratorError(f"{parsed.rel}: cannot place a statement in an empty block.", "Add the entry by hand.")
