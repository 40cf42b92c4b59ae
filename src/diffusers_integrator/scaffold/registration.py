"""Registers the scaffold's public names through the registry engine (never by editing inits here).

The registry computes every init and dummy edit from the module files. Under `dry_run` those files are not on disk
yet, so the registry reads them from the scaffold's own planned texts layered over the checkout.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..checkout import Checkout, FileChange
from ..errors import IntegratorError
from .names import ScaffoldNames


TORCH = ["torch"]
TORCH_TRANSFORMERS = ["torch", "transformers"]


def symbol_specs(names: ScaffoldNames, package_rel: str, *, include_lora: bool = True) -> list:
    """One `SymbolSpec` per public name, with the backends upstream files it under."""
    from ..registry.schema import SymbolSpec

    pkg = package_rel
    specs = []
    if names.transformer:
        module = f"{pkg}/models/transformers/{names.transformer_module}.py"
        specs.append(SymbolSpec(name=names.transformer, module=module, backends=TORCH))
    if names.autoencoder:
        module = f"{pkg}/models/autoencoders/{names.autoencoder_module}.py"
        specs.append(SymbolSpec(name=names.autoencoder, module=module, backends=TORCH))
    if names.scheduler:
        module = f"{pkg}/schedulers/{names.scheduler_module}.py"
        specs.append(SymbolSpec(name=names.scheduler, module=module, backends=TORCH))
    if names.lora_mixin and include_lora:
        # Upstream lists LoRA mixins in loaders/__init__.py only, not in the top-level namespace.
        module = f"{pkg}/loaders/lora_pipeline.py"
        specs.append(SymbolSpec(name=names.lora_mixin, module=module, export=False, backends=TORCH_TRANSFORMERS))
    for pipeline in names.pipelines:
        module = f"{pkg}/pipelines/{names.pipeline_package}/{pipeline.module}.py"
        specs.append(SymbolSpec(name=pipeline.class_name, module=module, backends=TORCH_TRANSFORMERS))
    if names.pipeline_output and names.pipelines:
        module = f"{pkg}/pipelines/{names.pipeline_package}/pipeline_output.py"
        specs.append(SymbolSpec(name=names.pipeline_output, module=module, export=False, backends=TORCH_TRANSFORMERS))
    if names.modular_pipeline:
        folder = f"{pkg}/modular_pipelines/{names.modular_package}"
        specs.append(
            SymbolSpec(
                name=names.modular_pipeline, module=f"{folder}/modular_pipeline.py", backends=TORCH_TRANSFORMERS
            )
        )
        specs.append(
            SymbolSpec(
                name=names.modular_blocks,
                module=f"{folder}/{names.modular_blocks_module}.py",
                backends=TORCH_TRANSFORMERS,
            )
        )
    return specs


def lora_registration_is_safe(checkout: Checkout, names: ScaffoldNames, lora_class: str) -> bool:
    """Whether the registry places the LoRA mixin in `loaders/__init__.py` (in the block of upstream's other
    mixins); a checkout whose loaders init lacks that block leaves it out, and the pipelines import the mixin
    from its module instead."""
    from ..registry.register import register_edits
    from ..registry.schema import SymbolSpec
    from ..registry.tree import CheckoutTree, OverlayTree
    from .edits import insert_lora_mixin

    base = CheckoutTree(checkout)
    lora_rel = "loaders/lora_pipeline.py"
    try:
        overlay = {lora_rel: insert_lora_mixin(base.read(lora_rel) or "", names.lora_mixin, lora_class)}
    except IntegratorError:
        return False  # the mixin name is taken: check_collisions reports it with the other clashes
    spec = SymbolSpec(
        name=names.lora_mixin,
        module=f"{checkout.package_rel}/{lora_rel}",
        export=False,
        backends=TORCH_TRANSFORMERS,
    )
    try:
        edits = register_edits(OverlayTree(base, overlay), [spec], package_rel=checkout.package_rel)
    except IntegratorError:
        return False
    return not edits.not_placed


def register(
    checkout: Checkout,
    names: ScaffoldNames,
    planned: Mapping[str, str],
    *,
    dry_run: bool,
    include_lora: bool = True,
) -> tuple[list[FileChange], list[str], str]:
    """Registers every public name; returns (changes, names registered, summary).

    A real run calls `register_names` on the files just written. A dry run plans the same registration with the
    registry's planner over the checkout plus `planned` (root-relative path -> text), and writes nothing.
    """
    from ..registry import register_names
    from ..registry.register import register_edits
    from ..registry.tree import CheckoutTree, OverlayTree

    specs = symbol_specs(names, checkout.package_rel, include_lora=include_lora)
    if not specs:
        return [], [], "No public names to register."
    if not dry_run:
        result = register_names(checkout, specs)
        return list(result.changes), [status.name for status in result.names], result.summary

    base = CheckoutTree(checkout)
    prefix = checkout.package_rel + "/"
    overlay = {path[len(prefix) :]: text for path, text in planned.items() if path.startswith(prefix)}
    edits = register_edits(OverlayTree(base, overlay), specs, package_rel=checkout.package_rel)
    files = {base.to_root(rel): text for rel, text in sorted(edits.files.items())}
    changes = checkout.write_files(files, dry_run=True) if files else []
    touched = [change.path for change in changes if change.action != "unchanged"]
    summary = f"Would register {len(specs)} name(s) in {len(touched)} init/dummy file(s)."
    return changes, [spec.name for spec in specs], summary
