"""Insertions into files the integration shares with the rest of diffusers (never inits: the registry does those).

Three shared files gain an entry: `loaders/lora_pipeline.py` (the LoRA mixin), the modular pipeline mapping in
`modular_pipelines/modular_pipeline.py`, and the docs `_toctree.yml`. Each insertion is a pure function of the old
text; inserting what is already there returns the text unchanged, so a repeated scaffold edits nothing.
"""

from __future__ import annotations

import ast
import re

from ..errors import IntegratorError


# Transformer-only LoRA mixins whose methods a new mixin repeats under `# Copied from` (first one present wins).
LORA_SOURCE_MIXINS = ("CogView4LoraLoaderMixin", "SanaLoraLoaderMixin", "LTXVideoLoraLoaderMixin")
_COPIED_FROM = re.compile(r"^(\s*)# Copied from (diffusers\.[\w.]+)(?: with (.+))?$")


class CollisionError(IntegratorError):
    """A derived name or path is already taken by something the scaffold did not write."""


# ------------------------------------------------------------------------------------------ LoRA mixin


def render_lora_mixin(lora_text: str, mixin: str, transformer: str, pipelines: list[str]) -> str:
    """The new mixin's class text, derived from a transformer-only mixin of the same file.

    Every method repeats upstream's code under a `# Copied from` marker (what `make fix-copies` keeps in sync),
    so the new mixin is exactly what a contributor would write by hand.
    """
    tree = ast.parse(lora_text)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    source_name = next((name for name in LORA_SOURCE_MIXINS if name in classes), None)
    if source_name is None:
        raise IntegratorError(
            f"loaders/lora_pipeline.py has none of {', '.join(LORA_SOURCE_MIXINS)} to derive a LoRA mixin from.",
            "Update the checkout to a recent diffusers, or scaffold with `lora=false` and add the mixin by hand.",
        )
    source = classes[source_name]
    lines = lora_text.splitlines()
    source_model = _source_transformer(lines, source)
    pipelines_text = ", ".join(f"[`{name}`]" for name in pipelines) or "its pipelines"

    out = [
        f"class {mixin}(LoraBaseMixin):",
        '    r"""',
        f"    Load LoRA layers into [`{transformer}`]. Specific to {pipelines_text}.",
        '    """',
        "",
    ]
    body = source.body[1:] if _has_docstring(source) else source.body
    first = body[0]
    start = (first.decorator_list[0].lineno if getattr(first, "decorator_list", None) else first.lineno) - 1
    methods = {node.name: node for node in body if isinstance(node, ast.FunctionDef)}
    for index in range(start, source.end_lineno):
        line = lines[index]
        stripped = line.strip()
        marker = _COPIED_FROM.match(line)
        if marker:
            indent, target, renames = marker.groups()
            out.append(f"{indent}# Copied from {target}{_renames(renames, source_model, transformer)}")
            continue
        def_match = re.match(r"^    def (\w+)\(", line)
        if def_match and def_match.group(1) in methods and not _marked(lines, methods[def_match.group(1)]):
            suffix = f" with {source_model}->{transformer}" if source_model else ""
            out.append(f"    # Copied from diffusers.loaders.lora_pipeline.{source_name}.{def_match.group(1)}{suffix}")
        if source_model and stripped and not stripped.startswith("#"):
            line = line.replace(source_model, transformer)
        out.append(line)
    return "\n".join(out).rstrip() + "\n"


def _has_docstring(node: ast.ClassDef) -> bool:
    first = node.body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _marked(lines: list[str], node: ast.FunctionDef) -> bool:
    """Whether a `# Copied from` marker sits among the decorators or in the comments right above them."""
    first = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    index = first - 1
    while index >= 0 and lines[index].strip().startswith("#"):
        if _COPIED_FROM.match(lines[index]):
            return True
        index -= 1
    return any(_COPIED_FROM.match(lines[i]) for i in range(first, node.lineno - 1))


def _source_transformer(lines: list[str], source: ast.ClassDef) -> str | None:
    """The transformer the source mixin's markers rename to (e.g. `CogView4Transformer2DModel`)."""
    for index in range(source.lineno, source.end_lineno):
        match = _COPIED_FROM.match(lines[index])
        if match and match.group(3):
            for pair in match.group(3).split(","):
                old, _, new = pair.strip().partition("->")
                if new.endswith("Model"):
                    return new
    return None


def _renames(renames: str | None, source_model: str | None, transformer: str) -> str:
    if not renames:
        return ""
    pairs = []
    for pair in renames.split(","):
        old, _, new = pair.strip().partition("->")
        pairs.append(f"{old}->{transformer if new == source_model else new}")
    return " with " + ",".join(pairs)


def insert_lora_mixin(lora_text: str, mixin: str, class_text: str) -> str:
    """`lora_text` with the mixin added before the deprecated `LoraLoaderMixin` alias (or at the end)."""
    existing = re.search(rf"^class {re.escape(mixin)}\b", lora_text, re.M)
    if existing:
        if class_text in lora_text:
            return lora_text
        raise CollisionError(
            f"loaders/lora_pipeline.py already defines `{mixin}` with other content.",
            "Choose another model name, or scaffold with `lora=false` and keep the existing mixin.",
        )
    anchor = re.search(r"^class LoraLoaderMixin\(", lora_text, re.M)
    if anchor is None:
        return lora_text.rstrip("\n") + "\n\n\n" + class_text
    return lora_text[: anchor.start()] + class_text + "\n\n" + lora_text[anchor.start() :]


# ------------------------------------------------------------------------------------------ modular mapping


def insert_modular_mapping(text: str, model_name: str, pipeline_class: str) -> str:
    """Adds `(model_name, _create_default_map_fn(pipeline_class))` to `MODULAR_PIPELINE_MAPPING`.

    `init_pipeline()` looks the blocks' `model_name` up there to pick the pipeline class; without the entry it
    builds a plain `ModularPipeline` that lacks the model's properties.
    """
    entry = f'        ("{model_name}", _create_default_map_fn("{pipeline_class}")),'
    if entry in text.splitlines():
        return text
    if re.search(rf'^\s*\("{re.escape(model_name)}",', text, re.M):
        raise CollisionError(
            f'MODULAR_PIPELINE_MAPPING already maps the modular model name "{model_name}" to another pipeline.',
            "Choose another model name.",
        )
    match = re.search(r"^MODULAR_PIPELINE_MAPPING = OrderedDict\(\n    \[\n(.*?)^    \]\n\)", text, re.M | re.S)
    if match is None:
        raise IntegratorError(
            "modular_pipelines/modular_pipeline.py has no `MODULAR_PIPELINE_MAPPING = OrderedDict([...])` in the "
            "layout diffusers uses.",
            f'Add `("{model_name}", _create_default_map_fn("{pipeline_class}"))` to the mapping by hand.',
        )
    return text[: match.end(1)] + entry + "\n" + text[match.end(1) :]


# ------------------------------------------------------------------------------------------ docs toctree

_FIXED_TITLES = {"overview", "autopipeline"}  # upstream's check_doc_toc keeps these first, unsorted


def insert_toc_entry(text: str, section_path: list[str], local: str, title: str) -> str:
    """Inserts `- local: <local> / title: <title>` into the section at `section_path`, in upstream's sort order.

    `section_path` names nested sections by title, e.g. `["API", "Models", "Transformers"]`. The position follows
    `utils/check_doc_toc.py` (fixed titles first, then by lower-cased title); the edit keeps every other byte.
    """
    import yaml  # pyyaml: only the scaffold reads the toctree

    siblings = _toc_section(yaml.safe_load(text), section_path)
    if any(entry.get("local") == local for entry in siblings):
        return text
    lines = text.splitlines(keepends=True)
    ordered = [entry for entry in siblings if str(entry.get("title", "")).lower() not in _FIXED_TITLES]
    after = [entry for entry in ordered if str(entry.get("title", "")).lower() > title.lower()]
    before = [entry for entry in ordered if str(entry.get("title", "")).lower() <= title.lower()]
    before = [entry for entry in siblings if str(entry.get("title", "")).lower() in _FIXED_TITLES] + before
    if after and "local" in after[0]:
        index, indent = _find_leaf(lines, after[0]["local"])
        return "".join(lines[:index] + _toc_lines(indent, local, title) + lines[index:])
    if before and "local" in before[-1]:
        index, indent = _find_leaf(lines, before[-1]["local"])
        end = index + 1
        while end < len(lines) and lines[end].startswith(" " * (len(indent) + 2)) and lines[end].strip():
            end += 1
        return "".join(lines[:end] + _toc_lines(indent, local, title) + lines[end:])
    raise IntegratorError(
        f"Cannot place `{local}` in the toctree section {' > '.join(section_path)}: its neighbours are nested "
        "sections.",
        f"Add `- local: {local}` / `title: {title}` to docs/source/en/_toctree.yml by hand.",
    )


def _toc_section(content: list, section_path: list[str]) -> list[dict]:
    level = content
    for title in section_path:
        match = next(
            (item for item in level if isinstance(item, dict) and item.get("title") == title and "sections" in item),
            None,
        )
        if match is None:
            raise IntegratorError(
                f"docs/source/en/_toctree.yml has no section {' > '.join(section_path)}.",
                "Add the docs page to the toctree by hand where it belongs.",
            )
        level = match["sections"]
    return level


def _find_leaf(lines: list[str], local: str) -> tuple[int, str]:
    pattern = re.compile(rf"^(\s*)- local: {re.escape(local)}\s*$")
    for index, line in enumerate(lines):
        match = pattern.match(line)
        if match:
            return index, match.group(1)
    raise IntegratorError(f"`{local}` is in the toctree but not in its expected form.", "Fix the toctree by hand.")


def _toc_lines(indent: str, local: str, title: str) -> list[str]:
    return [f"{indent}- local: {local}\n", f"{indent}  title: {title}\n"]
