"""Which optional backends a public name needs, and how a backend guard is written.

Inference reads where the module lives (everything under `models/`, `schedulers/`, `pipelines/`,
`modular_pipelines/` needs torch) and what it imports at module level (`transformers` → transformers,
`scipy` → scipy, `cv2` → opencv, …), following relative imports inside the same package, because a pipeline
often gets its text encoder through a sibling module. Models sit in the torch block whatever they import, as
upstream does. The caller can always override.
"""

from __future__ import annotations

import functools
import posixpath
import re

from .dummies import dummy_module_name
from .graph import TOP_INIT
from .tree import SourceTree, modules_in, read_init


# Import root → diffusers backend name (the `<x>` of `is_<x>_available()`).
IMPORT_BACKENDS = {
    "torch": "torch",
    "transformers": "transformers",
    "scipy": "scipy",
    "torchsde": "torchsde",
    "librosa": "librosa",
    "onnxruntime": "onnx",
    "onnx": "onnx",
    "cv2": "opencv",
    "sentencepiece": "sentencepiece",
    "note_seq": "note_seq",
}
CANONICAL_ORDER = [
    "torch",
    "transformers",
    "scipy",
    "torchsde",
    "librosa",
    "onnx",
    "opencv",
    "sentencepiece",
    "note_seq",
]
_TORCH_PACKAGES = ("models", "schedulers", "pipelines", "modular_pipelines", "guiders", "hooks")


def canonical(backends: set[str] | frozenset[str] | list[str]) -> list[str]:
    """torch, transformers, then the rarer ones in a fixed order (unknown ones alphabetically at the end)."""
    known = [name for name in CANONICAL_ORDER if name in backends]
    return known + sorted(set(backends) - set(CANONICAL_ORDER))


_MODULE_IMPORT = re.compile(
    r"^(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)|import[ \t]+([^\n]+))", re.M
)


@functools.lru_cache(maxsize=4096)
def module_imports(source: str) -> frozenset[str]:
    """Root names of modules imported unconditionally at module level (unindented lines), plus relative
    imports of siblings (as `.x`). A line scan, not a parse: model files are large and only their imports matter."""
    found: set[str] = set()
    for match in _MODULE_IMPORT.finditer(source):
        dots, module, names, plain = match.groups()
        if plain is not None:
            found.update(part.split()[0].split(".")[0] for part in plain.split("#")[0].split(",") if part.strip())
        elif not dots and module:
            found.add(module.split(".")[0])
        elif dots == ".":
            if module:
                found.add("." + module.split(".")[0])
            else:
                cleaned = names.split("#")[0].strip("() \n")
                found.update("." + part.split()[0] for part in cleaned.replace("\n", ",").split(",") if part.strip())
    return frozenset(found)


def module_backends(tree: SourceTree, module_rel: str) -> tuple[set[str], list[str]]:
    """Backends a module and the sibling modules it imports (transitively) import at module level."""
    top_package = module_rel.split("/")[0]
    folder = posixpath.dirname(module_rel)
    needed: set[str] = set()
    reasons: list[str] = []
    seen: set[str] = set()
    pending = [module_rel]
    while pending:
        rel = pending.pop()
        if rel in seen:
            continue
        seen.add(rel)
        source = tree.read(rel)
        if source is None:
            continue
        for name in sorted(module_imports(source)):
            if name.startswith("."):
                pending.append(posixpath.join(folder, name[1:] + ".py") if folder else name[1:] + ".py")
            elif name in IMPORT_BACKENDS and IMPORT_BACKENDS[name] not in needed:
                backend = IMPORT_BACKENDS[name]
                if top_package == "models" and backend != "torch":
                    continue  # upstream keeps every model in the torch block
                needed.add(backend)
                where = "" if rel == module_rel else f" (through {posixpath.basename(rel)})"
                reasons.append(f"imports {name}{where}")
    return needed, reasons


def infer_backends(tree: SourceTree, module_rel: str) -> tuple[list[str], str]:
    """Backends for names defined in `module_rel` (path in the package) and the reason, in words.

    In a pipeline or modular package the modules share the package's guard, so a helper module (an output
    dataclass, a watermarker) also takes what every sibling that imports it needs.
    """
    top_package = module_rel.split("/")[0]
    needed: set[str] = set()
    reasons: list[str] = []
    if top_package in _TORCH_PACKAGES:
        needed.add("torch")
        reasons.append(f"lives under {top_package}/ (torch)")
    own, own_reasons = module_backends(tree, module_rel)
    needed |= own
    reasons += own_reasons
    folder = posixpath.dirname(module_rel)
    if top_package in ("pipelines", "modular_pipelines") and folder.count("/") >= 1 and "transformers" not in needed:
        # A pipeline package sits under one torch(+transformers) guard: its helper modules (outputs, the
        # ModularPipeline class, watermarkers) take transformers when any sibling needs it.
        for sibling in modules_in(tree, folder):
            if sibling != module_rel and not sibling.endswith("__init__.py"):
                if "transformers" in module_backends(tree, sibling)[0]:
                    needed.add("transformers")
                    reasons.append(f"its package needs transformers ({posixpath.basename(sibling)})")
                    break
    if not needed:
        reasons.append("imports no optional backend")
    return canonical(needed), "; ".join(reasons)


def guard_condition(backends: list[str]) -> str:
    calls = [f"is_{name}_available()" for name in backends]
    return f"not {calls[0]}" if len(calls) == 1 else "not (" + " and ".join(calls) + ")"


def package_guard_order(backends: list[str]) -> list[str]:
    """Sub-package inits name transformers first (`is_transformers_available() and is_torch_available()`)."""
    ordered = canonical(backends)
    if "transformers" in ordered and "torch" in ordered:
        ordered.remove("transformers")
        ordered.insert(0, "transformers")
    return ordered


def dummy_module_for(tree: SourceTree, backends: list[str] | frozenset[str]) -> str:
    """The dummy module a backend set uses: the one the top-level init already links to it, else the canonical."""
    wanted = frozenset(backends)
    top = read_init(tree, TOP_INIT)
    found = None
    for block in top.blocks("typing") if top is not None else ():
        if block.guard is not None and block.backend_set == wanted and block.guard.dummy_module:
            found = block.guard.dummy_module  # the last one wins, as in upstream's generator
    if found:
        return found
    return dummy_module_name("_and_".join(canonical(wanted)))
