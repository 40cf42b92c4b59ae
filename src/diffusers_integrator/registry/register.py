"""Computing registrations: which init gets which entry under which guard, computed on texts only.

`register_edits` and `unregister_edits` read a `SourceTree` and return the new text of every file that changes
(None deletes it); `register_names` / `unregister_names` in `registry/__init__.py` write such edits through
`Checkout`. Nothing here imports diffusers.

Where a name goes, for a module `pipelines/<x>/pipeline_x.py`:

* every package init from the top level down to `pipelines/<x>/__init__.py` (only the last one when the name
  is not exported), in both halves of a lazy init: `_import_structure[key]` under the backend guard, and
  `from .key import Name` under TYPE_CHECKING; `key` is the next path component — or, as `models/__init__.py`
  does for its plain family packages, the dotted path down to the module;
* plain inits (model families) get `from .module import Name`;
* the dummy files are regenerated from the new top-level init exactly as upstream's generator would.

Each name ends up exactly once per init half: an entry in another guard block or under another key is moved.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import IntegratorError
from .backends import canonical, dummy_module_for, guard_condition, infer_backends, package_guard_order
from .dummies import dummy_file_rel, read_backend_objects, render_dummy_file
from .edit import LINE_LENGTH, InitEditor, find_entry, new_entry_lines, render_entry, render_import_names
from .forms import block_layout, init_like
from .graph import TOP_INIT, Graph, Registration, build_graph, join
from .mapping import MAPPING_FILE, add_entry, model_name_of, remove_entries
from .model import STRUCTURE_KINDS, Block, Half, ParsedInit
from .schema import NameStatus, NotPlaced, SymbolSpec
from .sorting import init_isort_key, insert_sorted, ruff_member_key
from .templates import lazy_package_init, plain_family_init
from .tree import SourceTree, modules_in, read_init


@dataclass
class Symbol:
    """A SymbolSpec resolved against the tree."""

    name: str
    module_rel: str  # `pipelines/flux/pipeline_flux.py`
    export: bool
    backends: list[str]
    source: str  # given / inferred
    reason: str

    @property
    def parts(self) -> list[str]:
        return self.module_rel[: -len(".py")].split("/")


@dataclass
class InitEdits:
    """The new text of every init and dummy file a registration changes, and what became of each name."""

    files: dict[str, str | None] = field(default_factory=dict)  # package-relative path → new text (None: delete)
    statuses: dict[str, NameStatus] = field(default_factory=dict)
    not_placed: list[NotPlaced] = field(default_factory=list)


@dataclass
class _Op:
    """Register `names` in one half of one init, under `key`, in the block for `backends`."""

    half: Half
    key: str
    backends: frozenset[str]
    names: list[str]
    policy: str  # exact (top, innermost) / loose (intermediate: a subset guard will do)


# ------------------------------------------------------------------------------------------ module paths


def module_rel_of(module: str, package_rel: str = "src/diffusers") -> str:
    """`diffusers.models.x.y` or `src/diffusers/models/x/y.py` → `models/x/y.py` (relative to the package)."""
    text = module.strip().replace("\\", "/")
    if text.endswith(".py") or "/" in text:
        text = text.removeprefix("./")
        for prefix in (f"{package_rel}/", "src/diffusers/", "diffusers/"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
                break
        if not text.endswith(".py"):
            text += ".py"
        return text
    parts = text.split(".")
    if parts[0] != "diffusers" or len(parts) < 2:
        raise IntegratorError(
            f"Module `{module}` is not inside diffusers.",
            "Give it as `diffusers.<package>.<module>` or as a path under src/diffusers.",
        )
    return "/".join(parts[1:]) + ".py"


def resolve_symbols(
    tree: SourceTree, specs: list[SymbolSpec], backends: list[str] | None, package_rel: str
) -> list[Symbol]:
    """SymbolSpecs checked against the tree (the module exists and defines the name), with their backends.

    A mistake in the call (a missing module, a name it does not define, a malformed backend) refuses the whole
    call: the caller fixes it and calls again. Where a name cannot be *placed* is decided later, per name.
    """
    from .model import defines_name

    symbols = []
    problems = []
    for spec in specs:
        rel = module_rel_of(spec.module, package_rel)
        source = tree.read(rel)
        if source is None:
            if modules_in(tree, rel[: -len(".py")]):
                problems.append(f"`{spec.module}` is a package; give the module file that defines {spec.name}")
            else:
                problems.append(f"{package_rel}/{rel} does not exist (module of {spec.name})")
            continue
        if not defines_name(source, spec.name):
            problems.append(f"{spec.name} is not defined in {package_rel}/{rel}")
            continue
        given = spec.backends if spec.backends is not None else backends
        if given is not None:
            unknown = [name for name in given if not name.replace("_", "").isalnum()]
            if unknown:
                problems.append(f"{spec.name}: backends must be names like `torch`, `transformers` (got {given})")
                continue
            chosen = canonical(given)
            source_kind = "given"
            reason = "given by the caller" if chosen else "given by the caller: no guard"
        else:
            chosen, reason = infer_backends(tree, rel)
            source_kind = "inferred"
            existing = _module_guard(tree, rel, {other.name for other in specs}) or _package_guard(tree, rel, chosen)
            if existing is not None and set(existing[0]) != set(chosen):
                chosen, reason = existing
        symbols.append(Symbol(spec.name, rel, spec.export, chosen, source_kind, reason))
    if problems:
        raise IntegratorError(
            "Cannot register: " + "; ".join(problems) + ".",
            "Write the module first (or fix the module path / name), then call register_lazy_import again.",
        )
    return symbols


def _module_guard(tree: SourceTree, module_rel: str, exclude: set[str]) -> tuple[list[str], str] | None:
    """The guard most other names of `module_rel` already sit under in its own package init, when one clearly
    wins (the names being registered have no vote: registering again is how a misplaced name is moved).

    Upstream guards a shared module's names by how they are used rather than by what the module imports:
    `loaders/__init__.py` keeps 32 of the 33 `lora_pipeline` mixins under torch+transformers although the
    module imports only torch. A new name of such a module follows its neighbours.
    """
    folder, module = posixpath.split(module_rel[: -len(".py")])
    parsed = read_init(tree, join(folder, "__init__.py"))
    if parsed is None or parsed.kind != "lazy":
        return None  # plain family inits guard by torch alone, or not at all (models stay in the torch block)
    guards: Counter[frozenset[str]] = Counter()
    for block, entry in parsed.entries("structure"):
        if entry.key == module:
            guards[block.placement_backends] += len([name for name in entry.names if name not in exclude])
    if not guards:
        return None
    (best, count), total = guards.most_common(1)[0], sum(guards.values())
    if not best or not count or count * 3 < total * 2:
        return None
    where = join(folder, "__init__.py")
    return canonical(best), f"as {count} of the {total} names of {posixpath.basename(module_rel)} in {where}"


def _package_guard(tree: SourceTree, module_rel: str, inferred: list[str]) -> tuple[list[str], str] | None:
    """The one guard a pipeline or modular package sits under, when it asks for more than the imports show.

    Upstream guards a pipeline package by what it runs with, not only by what its modules import:
    `pipelines/llada2` imports torch alone but drives a transformers model, and its init, like the
    `_import_structure["llada2"]` of `pipelines/__init__.py`, guards it with torch+transformers. A name of such a
    package takes the guard its own init already uses for all of its names in both halves (an init restored or
    written by hand before registering), else the one the parent init keeps the package under. Only ever adds
    backends: a guard without a backend the module imports is a mistake to move away from, not a choice to follow.
    """
    folder = posixpath.dirname(module_rel)
    parts = folder.split("/")
    if parts[0] not in ("pipelines", "modular_pipelines") or len(parts) < 2:
        return None
    candidates = [
        (join(folder, "__init__.py"), lambda entry: True),
        (join(posixpath.dirname(folder), "__init__.py"), lambda entry: entry.key == parts[-1]),
    ]
    for init, belongs in candidates:
        parsed = read_init(tree, init)
        if parsed is None or parsed.kind != "lazy":
            continue
        guards = {
            block.placement_backends for block, entry in parsed.entries() if block.guard is not None and belongs(entry)
        }
        if len(guards) != 1:
            continue
        (guard,) = guards
        if guard > set(inferred):
            return canonical(guard), f"the guard {init} keeps {posixpath.basename(folder)} under"
        return None
    return None


# ------------------------------------------------------------------------------------------ the chain


def _init_kind(tree: SourceTree, folder: str) -> str:
    """lazy / plain for an existing init; a missing `models/<family>` init will be plain, any other lazy."""
    text = tree.read(join(folder, "__init__.py"))
    if text is not None:
        return "lazy" if "_import_structure" in text else "plain"
    parts = folder.split("/")
    return "plain" if parts[0] == "models" and len(parts) == 2 else "lazy"


def chain_ops(tree: SourceTree, symbol: Symbol) -> list[tuple[str, str, _Op]]:
    """(init rel, init kind, op) for every init the symbol must be registered in."""
    parts = symbol.parts
    out = []
    skipped: set[str] = set()
    # Packages are parts[:depth] for depth 0 (the top level) .. len(parts) - 1 (the one holding the module).
    for depth in range(len(parts)):
        folder = "/".join(parts[:depth])
        innermost = depth == len(parts) - 1
        rel = join(folder, "__init__.py")
        if (not symbol.export and not innermost) or rel in skipped:
            continue
        kind = "lazy" if depth == 0 else _init_kind(tree, folder)
        following = parts[depth]
        next_is_plain = not innermost and _init_kind(tree, "/".join(parts[: depth + 1])) == "plain"
        backends = frozenset(symbol.backends)
        policy = "exact" if depth == 0 or innermost else "loose"
        if kind == "plain":
            out.append((rel, kind, _Op("plain", following, backends, [symbol.name], policy)))
            continue
        structure_key = typing_key = following
        if next_is_plain:
            structure_key, typing_key, direct = _plain_package_keys(tree, rel, parts, depth)
            if direct:
                skipped.add(join("/".join(parts[: depth + 1]), "__init__.py"))
        out.append((rel, kind, _Op("structure", structure_key, backends, [symbol.name], policy)))
        out.append((rel, kind, _Op("typing", typing_key, backends, [symbol.name], policy)))
    return out


def _plain_package_keys(tree: SourceTree, rel: str, parts: list[str], depth: int) -> tuple[str, str, bool]:
    """The keys a lazy init uses for a name of a plain sub-package, and whether it points at the module directly.

    `models/__init__.py` names the module (`_import_structure["transformers.transformer_flux"]`, imported back
    `from .transformers import ...`); the top level names the package (`_import_structure["guiders"]`,
    `["hooks"]`), except where it already names the module itself in both halves
    (`quantizers.quantization_config`): then the package init is left alone when it imports nothing from it.
    """
    dotted = ".".join(parts[depth:])
    following = parts[depth]
    parsed = read_init(tree, rel)
    structure_keys = {entry.key for _, entry in parsed.entries("structure")} if parsed is not None else set()
    typing_keys = {entry.key for _, entry in parsed.entries("typing")} if parsed is not None else set()
    if dotted in structure_keys or depth > 0:
        structure_key = dotted
    else:
        structure_key = following
    # The top level imports such a module back by its own path too (`from .quantizers.quantization_config import`).
    typing_key = dotted if dotted in typing_keys or (depth == 0 and structure_key == dotted) else following
    direct = False
    if structure_key == dotted and typing_key == dotted and depth + 2 == len(parts):
        package = read_init(tree, join("/".join(parts[: depth + 1]), "__init__.py"))
        direct = package is None or not any(entry.key == parts[-1] for _, entry in package.entries("plain"))
    return structure_key, typing_key, direct


# ------------------------------------------------------------------------------------------ block choice


def select_block(parsed: ParsedInit, op: _Op, tree: SourceTree) -> Block | None:
    """The guard block `op` belongs in, or None when a new block must be created."""
    if op.half == "plain":
        guarded = [block for block in parsed.blocks("plain") if block.guard is not None]
        # The block of exactly these backends: `models/unets/__init__.py` once held a torch and a flax block.
        exact = [block for block in guarded if block.placement_backends == op.backends]
        if exact:
            with_key = [block for block in exact if any(entry.key == op.key for entry in block.entries)]
            return (with_key or exact)[-1]
        loose = parsed.typing[0]
        # A family whose imports are all unguarded (autoencoders, quantizers) stays so; an empty one gets a guard.
        return loose if (loose.entries and not guarded) or not op.backends else None
    if not op.backends:
        return _unguarded_block(parsed, op)
    blocks = [block for block in parsed.blocks(op.half) if block.guard is not None]
    exact = [block for block in blocks if block.placement_backends == op.backends]
    if exact:
        with_key = [block for block in exact if any(entry.key == op.key for entry in block.entries)]
        if with_key:
            return with_key[-1]
        dummy = dummy_module_for(tree, op.backends)
        linked = [block for block in exact if block.guard.dummy_module == dummy]
        return (linked or exact)[-1]
    if op.policy == "loose" and not any(len(block.placement_backends) > 1 for block in blocks):
        subsets = [block for block in blocks if block.placement_backends and block.placement_backends < op.backends]
        if subsets:
            return max(subsets, key=lambda block: len(block.placement_backends))
    return None


def _unguarded_block(parsed: ParsedInit, op: _Op) -> Block | None:
    """Where a name needing no backend goes: the block already holding its key, else the unguarded statements
    (the `_import_structure = {...}` literal, module-level assignments, imports straight under TYPE_CHECKING)."""
    unguarded = [block for block in parsed.blocks(op.half) if block.guard is None]
    with_key = [block for block in unguarded if any(entry.key == op.key for entry in block.entries)]
    if with_key:
        return with_key[0]
    if op.half == "typing":
        loose = parsed.typing[0] if parsed.typing and parsed.typing[0].guard is None else None
        return loose if loose is not None and loose.entries else None
    statements = [block for block in unguarded if block.node is None and block.body]
    return statements[0] if statements else None


def _misplaced(parsed: ParsedInit, op: _Op, target: Block | None, name: str):
    """Entries of the same half that hold `name` somewhere else than (target block, op.key)."""
    for block, entry in parsed.entries(op.half):
        if name in entry.names and entry.kind in _kinds(op.half):
            if target is not None and block is target and entry.key == op.key:
                continue
            yield entry


def _kinds(half: Half) -> tuple[str, ...]:
    return ("import",) if half in ("typing", "plain") else (*STRUCTURE_KINDS, "dict")


def _in_initializer(parsed: ParsedInit, key: str) -> set[str]:
    """Names a package init lists in its unguarded `_import_structure = {...}` under `key`.

    One of upstream's two forms of a pipeline package's init keeps the output dataclass there, with no
    TYPE_CHECKING import (`pipelines/flux/__init__.py`); a name found so is registered as upstream wrote it.
    """
    return {
        name
        for _, entry in parsed.entries("structure")
        if entry.kind == "dict" and entry.key == key
        for name in entry.names
    }


# ------------------------------------------------------------------------------------------ applying ops


def apply_op(editor: InitEditor, op: _Op, tree: SourceTree) -> tuple[list[str], list[str]]:
    """Applies one op to an existing init; returns (names added or moved, names already in place)."""
    top = editor.rel == TOP_INIT
    changed: list[str] = []
    kept = set() if top or not op.backends else _in_initializer(editor.parsed, op.key) & set(op.names)
    if kept:
        rest = _Op(op.half, op.key, op.backends, [name for name in op.names if name not in kept], op.policy)
        changed, present = apply_op(editor, rest, tree) if rest.names else ([], [])
        return changed, [*present, *[name for name in op.names if name in kept]]
    for name in op.names:
        while True:
            parsed = editor.parsed
            target = select_block(parsed, op, tree)
            stray = next(_misplaced(parsed, op, target, name), None)
            if stray is None:
                break
            editor.remove_from_entry(stray, [name])
            changed.append(name)
    parsed = editor.parsed
    target = select_block(parsed, op, tree)
    if target is None:
        _create_block(editor, op, tree)
        return list(dict.fromkeys([*changed, *op.names])), []
    entry = find_entry(target, op.key, _kinds(op.half))
    if entry is not None:
        if op.half == "structure":
            added = editor.add_to_entry(entry, op.names, init_isort_key, always_sorted=top)
        else:
            added = editor.add_to_entry(entry, op.names, ruff_member_key, always_sorted=True)
    else:
        lines, after = new_entry_lines(
            parsed, "structure" if op.half == "structure" else "typing", target, op.key, op.names, top=top
        )
        editor.insert_after(after, lines)
        added = list(op.names)
    changed = list(dict.fromkeys([*changed, *added]))
    return changed, [name for name in op.names if name not in changed]


def _create_plain_block(editor: InitEditor, op: _Op) -> None:
    """`if is_torch_available():` with the first import, at the end of a family init that has none."""
    order = canonical(op.backends)
    ensure_utils_imports(editor, [f"is_{name}_available" for name in order])
    condition = " and ".join(f"is_{name}_available()" for name in order)
    body = render_entry("import", "    ", op.key, sorted(op.names, key=ruff_member_key), False)
    lines = editor.text.rstrip("\n").split("\n")
    editor.text = "\n".join([*lines, "", "", f"if {condition}:", *body]) + "\n"


def _create_block(editor: InitEditor, op: _Op, tree: SourceTree) -> None:
    if op.half == "plain":
        _create_plain_block(editor, op)
        return
    parsed = editor.parsed
    if not op.backends:
        _create_unguarded_entry(editor, op)
        return
    guards = [block.node for block in parsed.blocks(op.half) if block.guard is not None and block.node is not None]
    if guards and all(isinstance(node, ast.If) for node in guards):
        # loaders/__init__.py guards with plain, nested `if`s; where a new guard goes there is a choice upstream
        # makes case by case (nest it, or not), so it is left to a person.
        names = ", ".join(op.names)
        raise IntegratorError(
            f"{parsed.rel} has no `if` block guarded by exactly {' + '.join(canonical(op.backends))} for {names}.",
            f"Add that block to {parsed.rel} by hand (both halves, like its other `if is_..._available():` blocks), "
            "then register again; or pass the `backends` of one of its existing blocks.",
        )
    top = editor.rel == TOP_INIT
    depth = parsed.package_depth
    dots = "." * depth
    order = canonical(op.backends) if top else _file_guard_order(parsed, list(op.backends))
    dummy = dummy_module_for(tree, op.backends)
    condition = guard_condition(order)
    ensure_utils_imports(editor, [f"is_{name}_available" for name in order] + ["OptionalDependencyNotAvailable"])
    parsed = editor.parsed
    if op.half == "structure":
        kind = "extend" if op.key in parsed.dict_keys() else "assign"
        body = render_entry(
            kind, "    ", op.key, sorted(op.names, key=init_isort_key if top else ruff_member_key), False
        )
        guarded = [block for block in parsed.structure if block.node is not None and block.guard is not None]
        style = _style_of(parsed, guarded, top)
        if top:
            listing = f'name for name in dir({dummy}) if not name.startswith("_")'
            comprehension = f'    _import_structure["utils.{dummy}"] = [{listing}]'
            if len(comprehension) <= LINE_LENGTH:
                comprehension_lines = [comprehension]
            else:
                comprehension_lines = [f'    _import_structure["utils.{dummy}"] = [', f"        {listing}", "    ]"]
            except_body = [f"    from {dots}utils import {dummy}{style.comment}", "", *comprehension_lines]
        else:
            ensure_utils_imports(editor, ["get_objects_from_module"])
            parsed = editor.parsed
            guarded = [block for block in parsed.structure if block.node is not None and block.guard is not None]
            except_body = [
                f"    from {dots}utils import {dummy}{style.comment}",
                "",
                f"    {parsed.dummy_dict_name}.update(get_objects_from_module({dummy}))",
            ]
        base = _base_block(guarded, op.backends, tree)
        lines = [
            "",
            "try:",
            f"    if {condition}:",
            "        raise OptionalDependencyNotAvailable()",
            *([""] if style.blank_after_raise else []),
            "except OptionalDependencyNotAvailable:",
            *except_body,
            *([""] if style.blank_before_else else []),
            "else:",
            *body,
        ]
        lines = _keep_or_copy(parsed, guarded, lines, condition, dummy, body)
        if base is not None:
            after = base.node.end_lineno
        elif guarded:
            after = max(block.node.end_lineno for block in guarded)
        elif parsed.dict_stmt is not None:
            after = parsed.dict_stmt.end_lineno
        else:
            raise IntegratorError(f"{parsed.rel} has no `_import_structure` to extend.", "Add the entry by hand.")
        editor.insert_after(after, lines)
        return
    if parsed.typing_node is None:
        raise IntegratorError(
            f"{parsed.rel} has no `if TYPE_CHECKING or DIFFUSERS_SLOW_IMPORT:` branch.",
            "Add the TYPE_CHECKING mirror of `_import_structure` by hand, then register again.",
        )
    indent = " " * (parsed.typing_node.col_offset + 4)
    body = render_entry("import", indent + "    ", op.key, sorted(op.names, key=ruff_member_key), False)
    roots = [block for block in parsed.typing if block.guard is not None and block.node is not None]
    style = _style_of(parsed, roots, top)
    base = _base_block(roots, op.backends, tree)
    lines = [
        "",
        f"{indent}try:",
        f"{indent}    if {condition}:",
        f"{indent}        raise OptionalDependencyNotAvailable()",
        *([""] if style.blank_after_raise else []),
        f"{indent}except OptionalDependencyNotAvailable:",
        f"{indent}    from {dots}utils.{dummy} import *{style.comment}",
        *([""] if style.blank_before_else else []),
        f"{indent}else:",
        *body,
    ]
    lines = _keep_or_copy(parsed, roots, lines, condition, dummy, body)
    last = parsed.typing_node.body[-1]
    if len(parsed.typing_node.body) == 1 and isinstance(last, ast.Pass):
        editor._splice(last.lineno, last.end_lineno, lines[1:])
        return
    editor.insert_after(base.node.end_lineno if base is not None else last.end_lineno, lines)


def _create_unguarded_entry(editor: InitEditor, op: _Op) -> None:
    """`_import_structure["key"] = [...]` after the initializer, or `from .key import ...` straight under
    TYPE_CHECKING, for a name that needs no backend."""
    parsed = editor.parsed
    top = editor.rel == TOP_INIT
    names = sorted(op.names, key=init_isort_key if op.half == "structure" and top else ruff_member_key)
    if op.half == "structure":
        if parsed.dict_stmt is None:
            raise IntegratorError(f"{parsed.rel} has no `_import_structure = {{...}}`.", "Add the entry by hand.")
        # After the guarded blocks, as `loaders/__init__.py` keeps `_import_structure["peft"]`.
        guarded = [block.node for block in parsed.structure if block.guard is not None and block.node is not None]
        after = max(node.end_lineno for node in guarded) if guarded else parsed.dict_stmt.end_lineno
        editor.insert_after(after, ["", *render_entry("assign", "", op.key, names, False)])
        return
    if parsed.typing_node is None:
        raise IntegratorError(
            f"{parsed.rel} has no `if TYPE_CHECKING or DIFFUSERS_SLOW_IMPORT:` branch.",
            "Add the TYPE_CHECKING mirror of `_import_structure` by hand, then register again.",
        )
    indent = " " * (parsed.typing_node.col_offset + 4)
    lines = render_entry("import", indent, op.key, names, False)
    guarded = [block.node for block in parsed.typing if block.guard is not None and block.node is not None]
    if guarded:
        editor.insert_after(max(node.end_lineno for node in guarded), ["", *lines])
    else:
        editor.insert_after(parsed.typing_node.lineno, lines)


_DUMMY_NAME = re.compile(r"dummy_\w+_objects")


def _keep_or_copy(
    parsed: ParsedInit, blocks: list[Block], lines: list[str], condition: str, dummy: str, body: list[str]
) -> list[str]:
    """`lines` when some block of the file is laid out so already, else a copy of the file's latest block."""
    layouts = {
        block_layout(parsed.lines[block.node.lineno - 1 : block.node.end_lineno])
        for block in blocks
        if block.node is not None
    }
    if not layouts or block_layout(lines) in layouts:
        return lines
    return _like_block(parsed, blocks, condition, dummy, body) or lines


def _like_block(
    parsed: ParsedInit, blocks: list[Block], condition: str, dummy: str, body: list[str]
) -> list[str] | None:
    """A new guard block laid out exactly like the file's last plain one (the most recent): upstream's blocks
    differ in blank lines, `# noqa` comments and how the dummy import wraps, and a new block reads like the
    latest. None when no block is simple enough to copy."""

    def simple(block: Block) -> bool:
        node = block.node
        return (
            isinstance(node, ast.Try)
            and len(node.handlers) == 1
            and not block.children
            and bool(block.entries)
            and len(block.body) == len(block.entries)
            and isinstance(node.body[0], ast.If)
        )

    candidates = [block for block in blocks if simple(block)]
    if not candidates:
        return None
    template = candidates[-1]
    node = template.node
    lines = parsed.lines[node.lineno - 1 : node.end_lineno]
    offset = node.lineno
    test = node.body[0]
    first_entry = min(entry.start for entry in template.entries)
    indent = lines[test.lineno - offset][
        : len(lines[test.lineno - offset]) - len(lines[test.lineno - offset].lstrip())
    ]
    head = lines[: test.lineno - offset] + [f"{indent}if {condition}:"] + lines[test.test.end_lineno - offset + 1 :]
    head = head[: len(head) - (len(lines) - (first_entry - offset))]
    head = [_DUMMY_NAME.sub(dummy, line) for line in head]
    return ["", *head, *body]


def _file_guard_order(parsed: ParsedInit, backends: list[str]) -> list[str]:
    """torch and transformers in the order this file's own guards name them most often (`pipelines/__init__.py`
    writes `is_torch_available() and is_transformers_available()`, package inits the reverse)."""
    votes = Counter()
    for block in parsed.blocks():
        if block.guard is not None and {"torch", "transformers"} <= set(block.guard.backends):
            names = block.guard.backends
            votes["torch" if names.index("torch") < names.index("transformers") else "transformers"] += 1
    if votes and votes["torch"] > votes["transformers"]:
        return canonical(backends)
    return package_guard_order(backends)


@dataclass
class _Style:
    """How the file's own guard blocks are laid out, so a new one looks like its neighbours."""

    comment: str = "  # noqa F403"
    blank_after_raise: bool = False
    blank_before_else: bool = False


def _style_of(parsed: ParsedInit, blocks: list[Block], top: bool) -> _Style:
    for block in reversed(blocks):
        node = block.node
        if not (isinstance(node, ast.Try) and node.handlers and node.orelse and node.handlers[0].body):
            continue
        first = node.handlers[0].body[0]
        comment = parsed.lines[first.end_lineno - 1][first.end_col_offset :]
        else_line = node.orelse[0].lineno - 1  # the `else:` keyword line, 1-based
        return _Style(
            comment=comment if comment.strip().startswith("#") or not comment.strip() else "",
            blank_after_raise=not parsed.lines[node.body[0].end_lineno].strip(),
            blank_before_else=not parsed.lines[else_line - 2].strip(),
        )
    return _Style(blank_before_else=top)


def _base_block(blocks: list[Block], backends: frozenset[str], tree: SourceTree) -> Block | None:
    """The block a new guard extends (the largest proper subset of its backends); it goes right after it."""
    subsets = [block for block in blocks if block.backend_set and block.backend_set < backends]
    if not subsets:
        return None
    size = max(len(block.backend_set) for block in subsets)
    largest = [block for block in subsets if len(block.backend_set) == size]
    linked = [block for block in largest if block.guard.dummy_module == dummy_module_for(tree, block.backend_set)]
    return (linked or largest)[-1]


def ensure_utils_imports(editor: InitEditor, names: list[str]) -> None:
    """Adds names to the init's module-level `from ..utils import (...)` (ruff order), when missing."""
    parsed = editor.parsed
    for stmt in parsed.tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "utils" and stmt.level == parsed.package_depth:
            current = [alias.name for alias in stmt.names]
            missing = [name for name in dict.fromkeys(names) if name not in current]
            if not missing:
                return
            merged = list(current)
            for name in missing:
                merged = insert_sorted(merged, name, ruff_member_key)
            exploded = stmt.end_lineno > stmt.lineno
            lines = render_import_names("", "." * parsed.package_depth + "utils", merged, exploded)
            editor._splice(stmt.lineno, stmt.end_lineno, lines)
            return
    raise IntegratorError(
        f"{parsed.rel} does not import from `{'.' * parsed.package_depth}utils` at module level.",
        f"Add `from {'.' * parsed.package_depth}utils import {', '.join(names)}` and register again.",
    )


# ------------------------------------------------------------------------------------------ register


def register_edits(
    tree: SourceTree,
    specs: list[SymbolSpec],
    backends: list[str] | None = None,
    *,
    package_rel: str = "src/diffusers",
) -> InitEdits:
    """New texts for every file that registering `specs` changes.

    A name that cannot be placed in some init (a guard block only a person can add, an init without the half
    it needs) is left out whole, nothing of it written, and listed in `not_placed` with the reason; the others
    are registered. Only when no name can be placed does the call fail.
    """
    symbols = resolve_symbols(tree, specs, backends, package_rel)
    unplaced: dict[str, NotPlaced] = {}
    while True:
        placeable = [symbol for symbol in symbols if symbol.name not in unplaced]
        if not placeable:
            problems = "; ".join(f"{item.name} ({item.path}): {item.problem}" for item in unplaced.values())
            fixes = " ".join(dict.fromkeys(item.fix for item in unplaced.values() if item.fix))
            raise IntegratorError(f"Cannot register: {problems}", fixes or None)
        try:
            edits = _plan(tree, placeable, package_rel)
        except _Unplaceable as error:
            for name in error.names:
                unplaced[name] = NotPlaced(
                    name=name, path=f"{package_rel}/{error.rel}", problem=error.problem, fix=error.fix or ""
                )
            continue
        edits.not_placed = list(unplaced.values())
        return edits


class _Unplaceable(IntegratorError):
    """Names one init cannot take (raised while planning; the plan is redone without them)."""

    def __init__(self, names: list[str], rel: str, error: IntegratorError):
        self.names = list(names)
        self.rel = rel
        super().__init__(error.problem, error.fix)


def _plan(tree: SourceTree, symbols: list[Symbol], package_rel: str) -> InitEdits:
    edits = InitEdits()
    per_init: dict[str, list[_Op]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for symbol in symbols:
        edits.statuses.setdefault(
            symbol.name,
            NameStatus(
                name=symbol.name,
                module=f"{package_rel}/{symbol.module_rel}",
                export=symbol.export,
                backends=symbol.backends,
                backends_source=symbol.source,
                backends_reason=symbol.reason,
            ),
        )
        for rel, kind, op in chain_ops(tree, symbol):
            kinds[rel] = kind
            merged = next(
                (
                    existing
                    for existing in per_init[rel]
                    if (existing.half, existing.key, existing.backends, existing.policy)
                    == (op.half, op.key, op.backends, op.policy)
                ),
                None,
            )
            if merged is not None:
                merged.names.extend(name for name in op.names if name not in merged.names)
            else:
                per_init[rel].append(op)

    exported = {symbol.name for symbol in symbols if symbol.export}
    for rel, ops in per_init.items():
        text = tree.read(rel)
        if text is None:
            edits.files[rel], form = _new_init(tree, rel, kinds[rel], ops, exported)
            for op in ops:
                for name in op.names:
                    _note(edits.statuses[name].added_to, f"{package_rel}/{rel}")
                    if form:
                        edits.statuses[name].init_form = form
            continue
        editor = InitEditor(rel, text, top=rel == TOP_INIT)
        for op in ops:
            try:
                changed, present = apply_op(editor, op, tree)
            except _Unplaceable:
                raise
            except IntegratorError as error:
                raise _Unplaceable(op.names, rel, error) from error
            for name in changed:
                _note(edits.statuses[name].added_to, f"{package_rel}/{rel}")
            for name in present:
                _note(edits.statuses[name].already_in, f"{package_rel}/{rel}")
        for name in edits.statuses:
            if f"{package_rel}/{rel}" in edits.statuses[name].added_to:
                _drop(edits.statuses[name].already_in, f"{package_rel}/{rel}")
        if editor.text != text:
            edits.files[rel] = editor.text

    _map_modular_pipelines(tree, symbols, edits, package_rel)
    _sync_dummies(tree, edits, exported)
    _note_dummy_changes(tree, edits, package_rel)
    return edits


def _map_modular_pipelines(tree: SourceTree, symbols: list[Symbol], edits: InitEdits, package_rel: str) -> None:
    """The `MODULAR_PIPELINE_MAPPING` entry of every `ModularPipeline` subclass registered (`mapping.py`)."""
    for symbol in symbols:
        model_name = model_name_of(tree, symbol.module_rel, symbol.name)
        if model_name is None:
            continue
        current = edits.files.get(MAPPING_FILE) or tree.read(MAPPING_FILE)
        if current is None:
            continue
        try:
            text = add_entry(current, model_name, symbol.name)
        except IntegratorError as error:
            raise _Unplaceable([symbol.name], MAPPING_FILE, error) from error
        path = f"{package_rel}/{MAPPING_FILE}"
        if text != current:
            edits.files[MAPPING_FILE] = text
            _note(edits.statuses[symbol.name].added_to, path)
        else:
            _note(edits.statuses[symbol.name].already_in, path)


def _note_dummy_changes(tree: SourceTree, edits: InitEdits, package_rel: str) -> None:
    """Records which names a dummy file gained or lost, per name."""
    for rel, text in edits.files.items():
        if not rel.startswith("utils/dummy_"):
            continue
        before, after = tree.read(rel) or "", text or ""
        for name, status in edits.statuses.items():
            had, has = _has_dummy(before, name), _has_dummy(after, name)
            if has and not had:
                _note(status.added_to, f"{package_rel}/{rel}")
            elif had and not has:
                _note(status.removed_from, f"{package_rel}/{rel}")


def _has_dummy(text: str, name: str) -> bool:
    return f"\nclass {name}(" in text or f"\ndef {name}(" in text or f"\n{name} = None\n" in text


def _note(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _drop(items: list[str], value: str) -> None:
    if value in items:
        items.remove(value)


def _new_init(tree: SourceTree, rel: str, kind: str, ops: list[_Op], exported: set[str]) -> tuple[str, str]:
    """The text of a package init this call creates, and a note on the form it follows (`exported`: names the
    parent inits import back from it)."""
    depth = rel.count("/") + 1
    if kind == "plain":
        modules: dict[str, list[str]] = defaultdict(list)
        for op in ops:
            modules[op.key].extend(op.names)
        return plain_family_init(depth, dict(modules)), ""
    initializer: dict[str, list[str]] = defaultdict(list)
    blocks: dict[frozenset[str], dict[str, list[str]]] = {}
    for op in ops:
        if op.half != "structure":
            continue
        if not op.backends:
            initializer[op.key].extend(op.names)
            continue
        blocks.setdefault(op.backends, defaultdict(list))[op.key].extend(op.names)
    rendered = [
        (canonical(backends), dummy_module_for(tree, backends), dict(modules)) for backends, modules in blocks.items()
    ]
    exported_keys = frozenset(op.key for op in ops if set(op.names) & exported)
    chosen = init_like(tree, rel, dict(initializer), rendered, exported_keys) if rendered else None
    if chosen is not None:
        return chosen.text, chosen.note
    note = f"{rel} written in the canonical form (no sibling init with the same guards holds registrations only)."
    return lazy_package_init(depth, rendered, dict(initializer)), note


# ------------------------------------------------------------------------------------------ dummies


def _sync_dummies(tree: SourceTree, edits: InitEdits, exported: set[str]) -> None:
    """Regenerates the dummy files the change touches, as upstream's generator writes them."""
    old_top = tree.read(TOP_INIT) or ""
    new_top = edits.files.get(TOP_INIT, old_top) or ""
    old_objects = read_backend_objects(old_top)
    new_objects = read_backend_objects(new_top) if new_top != old_top else old_objects
    for key, names in new_objects.items():
        # Files whose generated content changed, and those of the names being registered (a stale or hand-edited
        # dummy file gets fixed by registering one of its names).
        if old_objects.get(key) != names or exported & set(names):
            rel, text = dummy_file_rel(key), render_dummy_file(key, names)
            if tree.read(rel) != text:
                edits.files[rel] = text
    old = {dummy_file_rel(key) for key in old_objects}
    new = {dummy_file_rel(key) for key in new_objects}
    for rel in old - new:
        module = posixpath.basename(rel)[: -len(".py")]
        users = {path for path in tree.mentions(module) if path != rel and edits.files.get(path, "") is not None}
        users = {path for path in users if module in (edits.files.get(path) or tree.read(path) or "")}
        if users:
            key = module[len("dummy_") : -len("_objects")]
            edits.files[rel] = render_dummy_file("torch" if key == "pt" else key, [])
        elif tree.read(rel) is not None:
            edits.files[rel] = None


# ------------------------------------------------------------------------------------------ unregister


def unregister_edits(
    tree: SourceTree,
    names: list[str],
    *,
    select: Callable[[Registration], bool] | None = None,
    package_rel: str = "src/diffusers",
    graph: Graph | None = None,
) -> InitEdits:
    """New texts for every file that unregistering `names` changes (every init, both halves, dummies).

    `select` narrows the registrations removed (the strip-and-restore proof removes only those that lead to
    the module being stripped); `graph` reuses a graph already built for `tree`.
    """
    graph = graph or build_graph(tree)
    wanted = set(names)
    chosen = [reg for reg in graph.registrations if reg.name in wanted and (select is None or select(reg))]
    edits = InitEdits()
    for name in names:
        edits.statuses[name] = NameStatus(name=name, module="", export=False)
    targets: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for reg in chosen:
        targets[reg.init].add((reg.half, reg.key, reg.name))
        if reg.init == TOP_INIT:
            edits.statuses[reg.name].export = True
        if reg.target_kind in ("module", "missing") and not edits.statuses[reg.name].module:
            edits.statuses[reg.name].module = f"{package_rel}/{reg.target}"
    for rel, wanted_here in targets.items():
        text = tree.read(rel)
        editor = InitEditor(rel, text, top=rel == TOP_INIT)
        # Every occurrence goes, duplicates included (they share the same half, key and name).
        while True:
            parsed = editor.parsed
            hit = None
            for half in ("structure", "typing", "plain"):
                for _, entry in parsed.entries(half):
                    names_here = [name for name in entry.names if (half, entry.key, name) in wanted_here]
                    if names_here:
                        hit = (entry, names_here)
                        break
                if hit:
                    break
            if hit is None:
                break
            entry, names_here = hit
            editor.remove_from_entry(entry, names_here)
            for name in names_here:
                _note(edits.statuses[name].removed_from, f"{package_rel}/{rel}")
        if editor.text != text:
            edits.files[rel] = editor.text
    mapping = tree.read(MAPPING_FILE)
    if mapping is not None:
        removed = {name for name in names if re.search(rf'_create_default_map_fn\("{re.escape(name)}"\)', mapping)}
        if removed and select is None:
            edits.files[MAPPING_FILE] = remove_entries(mapping, removed)
            for name in removed:
                _note(edits.statuses[name].removed_from, f"{package_rel}/{MAPPING_FILE}")
    _sync_dummies(tree, edits, set())
    _note_dummy_changes(tree, edits, package_rel)
    return edits


__all__ = ["InitEdits", "Symbol", "chain_ops", "module_rel_of", "register_edits", "unregister_edits"]
