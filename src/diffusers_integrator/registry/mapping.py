"""The `MODULAR_PIPELINE_MAPPING` entry of a modular pipeline class: part of registering it.

`ModularPipelineBlocks.init_pipeline()` and `ModularPipeline.from_pretrained` look the blocks' `model_name` up in
`modular_pipelines/modular_pipeline.py`'s `MODULAR_PIPELINE_MAPPING` to choose the pipeline class; without an
entry they build a plain `ModularPipeline` that lacks the model's properties. Registering a direct subclass of
`ModularPipeline` adds `("<model_name>", _create_default_map_fn("<Class>"))`, with `model_name` read from the
`model_name = "..."` of the blocks in the same package; unregistering it removes that entry (entries with a map
function of their own are upstream's hand-written choices and stay).
"""

from __future__ import annotations

import ast
import posixpath
import re

from ..errors import IntegratorError
from ..syntax import parse
from .tree import SourceTree, modules_in


MAPPING_FILE = "modular_pipelines/modular_pipeline.py"
_MAPPING = re.compile(r"^MODULAR_PIPELINE_MAPPING = OrderedDict\(\n    \[\n(.*?)^    \]\n\)", re.M | re.S)


def model_name_of(tree: SourceTree, module_rel: str, name: str) -> str | None:
    """The `model_name` of the package holding `name`, when `name` is a direct `ModularPipeline` subclass.

    Read from the syntax tree, not the text: upstream often writes a class's bases on the lines below its name
    (`class ZImageModularPipeline(`, then `ModularPipeline,` and the LoRA mixin one per line). A package holding
    several pipelines (`qwenimage`: `qwenimage`, `qwenimage-edit`, ...) names each by the blocks of its
    `default_blocks_name`; otherwise the model name most blocks of the package declare wins.
    """
    parts = module_rel.split("/")
    if parts[0] != "modular_pipelines" or len(parts) != 3:
        return None
    module = _parsed(tree.read(module_rel))
    node = next(
        (node for node in module.body if isinstance(node, ast.ClassDef) and node.name == name) if module else (),
        None,
    )
    if node is None or not any(_base_name(base) == "ModularPipeline" for base in node.bases):
        return None
    blocks_name = _class_constant(node, "default_blocks_name")
    found: list[str] = []
    for rel in modules_in(tree, posixpath.dirname(module_rel)):
        source = tree.read(rel) or ""
        if "model_name" not in source:
            continue
        parsed = _parsed(source)
        names = _model_names(parsed)
        if (
            blocks_name
            and parsed is not None
            and any(isinstance(item, ast.ClassDef) and item.name == blocks_name for item in parsed.body)
        ):
            if names:
                return max(set(names), key=names.count)
        found += names
    return max(set(found), key=found.count) if found else None


def _parsed(source: str | None) -> ast.Module | None:
    if source is None:
        return None
    try:
        return parse(source)
    except SyntaxError:
        return None


def _base_name(base: ast.expr) -> str:
    """`ModularPipeline` for `ModularPipeline` and `modular_pipeline.ModularPipeline` alike."""
    if isinstance(base, ast.Attribute):
        return base.attr
    return base.id if isinstance(base, ast.Name) else ""


def _class_constant(node: ast.ClassDef, attribute: str) -> str | None:
    """The string a class body assigns to `attribute` (`model_name = "z-image"`), if any."""
    for item in node.body:
        if isinstance(item, ast.Assign):
            targets = item.targets
        elif isinstance(item, ast.AnnAssign):
            targets = [item.target]
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == attribute for target in targets):
            value = item.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    return None


def _model_names(module: ast.Module | None) -> list[str]:
    """The `model_name = "..."` class attributes of a module's classes (blocks declare the model they serve)."""
    classes = [node for node in module.body if isinstance(node, ast.ClassDef)] if module is not None else []
    return [value for node in classes if (value := _class_constant(node, "model_name")) is not None]


def entry_line(model_name: str, class_name: str) -> str:
    return f'        ("{model_name}", _create_default_map_fn("{class_name}")),'


def add_entry(text: str, model_name: str, class_name: str) -> str:
    """`text` with the entry appended to the mapping (as upstream appends); unchanged when the model name is
    mapped already (to this class, or by a map function of upstream's)."""
    if entry_line(model_name, class_name) in text.split("\n"):
        return text
    if re.search(rf'^\s*\("{re.escape(model_name)}",', text, re.M):
        # Mapped already, often by a map function choosing among several classes (`_krea2_map_fn`): upstream's.
        return text
    match = _MAPPING.search(text)
    if match is None:
        raise IntegratorError(
            f"{MAPPING_FILE} has no `MODULAR_PIPELINE_MAPPING = OrderedDict([...])` in the layout diffusers uses.",
            f'Add `("{model_name}", _create_default_map_fn("{class_name}"))` to the mapping by hand.',
        )
    return text[: match.end(1)] + entry_line(model_name, class_name) + "\n" + text[match.end(1) :]


def remove_entries(text: str, class_names: set[str]) -> str:
    """`text` without the default-map entries of `class_names`."""
    pattern = re.compile(r'^        \("[^"]+", _create_default_map_fn\("(\w+)"\)\),\n', re.M)
    return pattern.sub(lambda match: "" if match.group(1) in class_names else match.group(0), text)


def mapping_entries(text: str) -> list[tuple[str, str, int]]:
    """(model name, mapped text, line) of every entry, in order."""
    match = _MAPPING.search(text)
    if match is None:
        return []
    first = text[: match.start(1)].count("\n") + 1
    out = []
    for offset, line in enumerate(match.group(1).split("\n")):
        found = re.match(r'^\s*\("([^"]+)",\s*(.*)\),$', line)
        if found:
            out.append((found.group(1), found.group(2), first + offset))
    return out
