"""Refuses derived names that clash with what diffusers already has.

A clash is a class defined anywhere in the package, a module or package folder that exists, or a modular
model name already mapped, unless it is exactly what an earlier identical scaffold wrote (then the call is a
no-op, not a collision). All clashes are reported at once, with a name that would be free.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ..checkout import Checkout
from .edits import CollisionError
from .names import ScaffoldNames


def check_collisions(
    checkout: Checkout, names: ScaffoldNames, planned: Mapping[str, str], inserted: Mapping[str, str] | None = None
) -> None:
    """Raises a `CollisionError` listing every clash.

    `planned` maps root-relative paths to the content of new files; `inserted` maps a shared file to the block the
    scaffold inserts into it (the LoRA mixin), so a class found inside an identical block counts as ours.
    """
    ours = {path for path, content in planned.items() if _same(checkout.root / path, content)}
    inserted = inserted or {}
    clashes: list[str] = []

    for path in planned:
        target = checkout.root / path
        if target.exists() and path not in ours:
            clashes.append(f"{path} exists with other content (the scaffold never overwrites)")

    for folder in _package_folders(checkout, names):
        if folder.is_dir():
            foreign = [
                p.relative_to(checkout.root).as_posix()
                for p in sorted(folder.rglob("*.py"))
                if p.name != "__init__.py" and p.relative_to(checkout.root).as_posix() not in ours
            ]
            if foreign:
                clashes.append(f"package {folder.relative_to(checkout.root).as_posix()}/ exists ({foreign[0]}, ...)")

    wanted = set(names.public_classes())
    pattern = re.compile(r"^class (" + "|".join(re.escape(n) for n in sorted(wanted)) + r")\b", re.M)
    for path in sorted(checkout.package_dir.rglob("*.py")):
        rel = path.relative_to(checkout.root).as_posix()
        # Dummy objects mirror registered names; the registry keeps them in step with the real modules.
        if rel in ours or (path.parent.name == "utils" and path.name.startswith("dummy_")):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in pattern.finditer(text):
            if rel in inserted and inserted[rel] in text:
                continue  # the block an earlier identical scaffold inserted
            clashes.append(f"class {match.group(1)} is already defined in {rel}")

    if names.modular_pipeline:
        mapping = checkout.package_dir / "modular_pipelines" / "modular_pipeline.py"
        text = mapping.read_text(encoding="utf-8") if mapping.is_file() else ""
        key = re.search(rf'^\s*\("{re.escape(names.modular_model_name)}", (.*)\),$', text, re.M)
        if key and names.modular_pipeline not in key.group(1):
            clashes.append(f'MODULAR_PIPELINE_MAPPING already maps "{names.modular_model_name}" ({key.group(1)})')

    if clashes:
        raise CollisionError(
            f"`{names.display_name}` collides with existing diffusers code: " + "; ".join(sorted(set(clashes))) + ".",
            f"Choose another model name (e.g. `{names.prefix}2` or a more specific one), or remove the existing "
            "files if they are leftovers of an abandoned scaffold.",
        )


def _same(target: Path, content: str) -> bool:
    try:
        return target.read_text(encoding="utf-8").replace("\r\n", "\n") == content
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False


def _package_folders(checkout: Checkout, names: ScaffoldNames) -> list[Path]:
    folders = []
    if names.pipeline_package:
        folders.append(checkout.package_dir / "pipelines" / names.pipeline_package)
    if names.modular_package:
        folders.append(checkout.package_dir / "modular_pipelines" / names.modular_package)
    return folders
