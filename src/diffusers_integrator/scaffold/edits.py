"""Insertions into files the integration shares with the rest of diffusers (never inits: the registry does those).

Three shared files gain an entry: `loaders/lora_pipeline.py` (the LoRA mixin), the modular pipeline mapping in
`modular_pipelines/modular_pipeline.py`, and the docs `_toctree.yml`. Each insertion is a pure function of the old
text; inserting what is already there returns the text unchanged, so a repeated scaffold edits nothing.
"""

from __future__ import annotations

import ast
import re

from ..errors import IntegratorError
from ..syntax import parse


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
    tree = parse(lora_text)
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


# ------------------------------------------------------------------------------------------ LoRA docs page


def insert_lora_doc(text: str, mixin: str, display: str, snake: str) -> str:
    """The mixin on `docs/source/en/api/loaders/lora.md`: a bullet after the last mixin bullet and an autodoc
    section before `LoraBaseMixin`'s (upstream's page keeps the base class last)."""
    if f"loaders.lora_pipeline.{mixin}" in text:
        return text
    lines = text.split("\n")
    bullets = [i for i, line in enumerate(lines) if re.match(r"^- \[`\w+LoraLoaderMixin`\]", line)]
    bullet = f"- [`{mixin}`] provides similar functions for [{display}](../pipelines/{snake})."
    section = [f"## {mixin}", "", f"[[autodoc]] loaders.lora_pipeline.{mixin}", ""]
    base = next((i for i, line in enumerate(lines) if line.strip() == "## LoraBaseMixin"), None)
    if base is None or not bullets or base < bullets[-1]:
        while lines and not lines[-1]:
            lines.pop()
        lines += ["", *section]
    else:
        lines[base:base] = section
    if bullets:
        lines.insert(bullets[-1] + 1, bullet)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ auto pipelines

AUTO_MAPPINGS = {
    "text2image": "AUTO_TEXT2IMAGE_PIPELINES_MAPPING",
    "image2image": "AUTO_IMAGE2IMAGE_PIPELINES_MAPPING",
    "text2video": "AUTO_TEXT2VIDEO_PIPELINES_MAPPING",
    "image2video": "AUTO_IMAGE2VIDEO_PIPELINES_MAPPING",
}


def insert_auto_pipelines(text: str, model_name: str, package: str, tasks: dict[str, str]) -> str:
    """Adds `(model_name, Pipeline)` to the auto-pipeline mapping of each task (appended, as upstream appends)
    and `from .<package> import ...` among the module's sorted imports; every other byte stays.

    `_get_model` reads these mappings to name a pipeline class's model, which is what
    `ModularPipeline.from_pretrained` looks up in `MODULAR_PIPELINE_MAPPING` for a repo a standard pipeline saved.
    """
    from ..registry.edit import render_import_names
    from ..registry.sorting import ruff_member_key, ruff_module_key

    for task, class_name in tasks.items():
        mapping = AUTO_MAPPINGS.get(task)
        if mapping is None:
            continue
        match = re.search(rf"^{mapping} = OrderedDict\(\n    \[\n(.*?)^    \]\n\)", text, re.M | re.S)
        if match is None:
            raise IntegratorError(
                f"pipelines/auto_pipeline.py has no `{mapping} = OrderedDict([...])` in the layout diffusers uses.",
                f'Add `("{model_name}", {class_name})` to {mapping} by hand.',
            )
        entries = re.findall(r'^\s*\("([^"]+)", (\w+)\),$', match.group(1), re.M)
        if (model_name, class_name) in entries:
            continue
        if any(key == model_name for key, _ in entries):
            raise CollisionError(
                f'{mapping} already maps "{model_name}" to another pipeline.',
                "Choose another model name.",
            )
        entry = f'        ("{model_name}", {class_name}),\n'
        text = text[: match.end(1)] + entry + text[match.end(1) :]
    wanted = sorted(tasks.values(), key=ruff_member_key)
    if re.search(rf"^from \.{re.escape(package)} import", text, re.M):
        return text
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if re.match(r"^from \.\w+ import", line)]
    if not starts:
        raise IntegratorError(
            "pipelines/auto_pipeline.py has no `from .<package> import` statements to join.",
            f"Import {', '.join(wanted)} from `.{package}` there by hand.",
        )
    after = [
        i for i in starts if ruff_module_key(re.match(r"^from \.(\w+)", lines[i]).group(1)) > ruff_module_key(package)
    ]
    at = after[0] if after else _statement_end(lines, starts[-1]) + 1
    lines[at:at] = render_import_names("", f".{package}", wanted, False)
    return "\n".join(lines)


def _statement_end(lines: list[str], start: int) -> int:
    """The last line of the import statement starting at `start` (a parenthesised one spans lines)."""
    if not lines[start].rstrip().endswith("("):
        return start
    end = start
    while not lines[end].startswith(")"):
        end += 1
    return end


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
