"""The registry faults the strip-and-restore eval cases exposed, each on upstream's own files (the clone's main).

A restore strips a package (its files, every registration of its names), puts upstream's files back as an agent
would, then registers the names: every init, dummy file and mapping must come back as upstream wrote it, and
check_registration must agree with what register_lazy_import wrote.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from diffusers_integrator.registry.backends import module_imports
from diffusers_integrator.registry.check import check_tree
from diffusers_integrator.registry.graph import TOP_INIT
from diffusers_integrator.registry.mapping import MAPPING_FILE, mapping_entries, model_name_of
from diffusers_integrator.registry.register import register_edits, unregister_edits
from diffusers_integrator.registry.schema import SymbolSpec
from diffusers_integrator.registry.tree import MemoryTree

from .helpers import FOO_MODEL, FOO_OUTPUT, FOO_PIPELINE


PIPELINES_INIT = "pipelines/__init__.py"


@pytest.fixture(scope="module")
def upstream(diffusers_clone: Path) -> MemoryTree:
    """Every `.py` file of upstream's main (the clone), read once."""
    return MemoryTree.from_folder(diffusers_clone / "src" / "diffusers")


def _strip_and_restore(upstream: MemoryTree, package: str, specs: list[SymbolSpec]) -> tuple[MemoryTree, object]:
    """The package stripped (files and registrations), its files put back verbatim, its names registered again."""
    files = {rel: text for rel, text in upstream.files.items() if rel.startswith(package + "/")}
    tree = upstream.layer()
    tree.apply(unregister_edits(tree, [spec.name for spec in specs]).files)
    tree.apply(dict.fromkeys(files))
    assert all(tree.read(rel) is None for rel in files)
    tree.apply(files)
    edits = register_edits(tree, specs)
    tree.apply(edits.files)
    return tree, edits


def _differing(tree: MemoryTree, upstream: MemoryTree, edits) -> list[str]:
    return sorted(rel for rel in edits.files if tree.read(rel) != upstream.read(rel))


# ------------------------------------------------------------------------------------------ the package's guard


def test_a_restored_pipeline_keeps_the_torch_and_transformers_guard_of_its_own_init(upstream):
    # pipelines/llada2 imports torch alone, but upstream guards the package (its init, the parent's entry, the
    # top level, the dummies) with torch+transformers: the restored init says so, and the restore follows it.
    module = "pipelines/llada2/pipeline_llada2.py"
    assert module_imports(upstream.read(module)) >= {"torch"} and "transformers" not in module_imports(
        upstream.read(module)
    )
    specs = [
        SymbolSpec(name=name, module=f"src/diffusers/{module}") for name in ("LLaDA2PipelineOutput", "LLaDA2Pipeline")
    ]

    tree, edits = _strip_and_restore(upstream, "pipelines/llada2", specs)

    statuses = {status.name: status for status in edits.statuses.values()}
    assert {name: status.backends for name, status in statuses.items()} == {
        "LLaDA2PipelineOutput": ["torch", "transformers"],
        "LLaDA2Pipeline": ["torch", "transformers"],
    }
    assert "pipelines/llada2/__init__.py" in statuses["LLaDA2Pipeline"].backends_reason
    assert "utils/dummy_pt_objects.py" not in edits.files
    assert sorted(edits.files) == [
        TOP_INIT,
        PIPELINES_INIT,
        "utils/dummy_torch_and_transformers_objects.py",
    ]
    assert _differing(tree, upstream, edits) == []
    findings, _, _ = check_tree(tree, ["LLaDA2PipelineOutput", "LLaDA2Pipeline"])
    assert findings == []


def test_a_guard_without_a_backend_the_module_imports_is_not_followed(upstream):
    # The package init guards by torch alone, but the module imports transformers: the imports win, as before.
    tree = upstream.layer()
    tree.apply(
        {
            "pipelines/foo/__init__.py": upstream.read("pipelines/ddpm/__init__.py").replace("ddpm", "foo"),
            "pipelines/foo/pipeline_foo.py": FOO_PIPELINE,
            "pipelines/foo/pipeline_output.py": FOO_OUTPUT,
            "models/transformers/transformer_foo.py": FOO_MODEL,
        }
    )
    edits = register_edits(tree, [SymbolSpec(name="FooPipeline", module="diffusers.pipelines.foo.pipeline_foo")])
    assert [status.backends for status in edits.statuses.values()] == [["torch", "transformers"]]


# ------------------------------------------------------------------------------------------ modular mapping


def test_every_default_mapping_entry_of_upstream_is_found_from_its_class(upstream):
    # Upstream writes most ModularPipeline subclasses with their bases below the `class` line (z_image, helios,
    # hunyuan_video1_5, ltx, ltx2, stable_diffusion_xl, wan); each must yield the model name it is mapped by, the
    # qwenimage package's four pipelines included (`qwenimage`, `qwenimage-edit`, ... by their default blocks).
    mapped: dict[str, set[str]] = {}
    for model_name, target, _ in mapping_entries(upstream.read(MAPPING_FILE)):
        if target.startswith("_create_default_map_fn("):
            mapped.setdefault(target.split('"')[1], set()).add(model_name)
    assert len(mapped) >= 15
    multiline = []
    for class_name, model_names in sorted(mapped.items()):
        module = next(
            rel
            for rel, text in upstream.files.items()
            if rel.startswith("modular_pipelines/") and f"\nclass {class_name}(" in text
        )
        node = next(
            node for node in ast.parse(upstream.read(module)).body if getattr(node, "name", None) == class_name
        )
        if not any(ast.unparse(base) == "ModularPipeline" for base in node.bases):
            continue  # `FluxKontextModularPipeline(FluxModularPipeline)`: a subclass's entry is upstream's choice
        if f"\nclass {class_name}(\n" in upstream.read(module):
            multiline.append(class_name)
        assert model_name_of(upstream, module, class_name) in model_names, class_name
    assert set(multiline) >= {
        "HeliosModularPipeline",
        "HunyuanVideo15ModularPipeline",
        "LTX2ModularPipeline",
        "LTXModularPipeline",
        "StableDiffusionXLModularPipeline",
        "ZImageModularPipeline",
    }


def test_the_z_image_modular_restore_adds_back_its_mapping_entry(upstream):
    module = "src/diffusers/modular_pipelines/z_image/modular_pipeline.py"
    entry = '        ("z-image", _create_default_map_fn("ZImageModularPipeline")),'
    assert entry in upstream.read(MAPPING_FILE).split("\n")

    tree, edits = _strip_and_restore(
        upstream, "modular_pipelines/z_image", [SymbolSpec(name="ZImageModularPipeline", module=module)]
    )

    assert entry in tree.read(MAPPING_FILE).split("\n")
    assert f"src/diffusers/{MAPPING_FILE}" in edits.statuses["ZImageModularPipeline"].added_to


# ------------------------------------------------------------------------------------------ statement order


def test_a_restored_package_statement_goes_between_the_neighbours_it_sorts_between(upstream):
    # Upstream's torch+transformers block of pipelines/__init__.py is nearly alphabetical (flux2 before flux,
    # deprecated at its head): diffusion_gemma belongs between deepfloyd_if and dreamlite, where upstream has it.
    module = "src/diffusers/pipelines/diffusion_gemma/pipeline_diffusion_gemma.py"
    names = ["DiffusionGemmaPipeline", "DiffusionGemmaPipelineOutput"]

    tree, _ = _strip_and_restore(
        upstream, "pipelines/diffusion_gemma", [SymbolSpec(name=n, module=module) for n in names]
    )

    lines = tree.read(PIPELINES_INIT).split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith('    _import_structure["diffusion_gemma"]'))
    assert lines[index - 1].startswith("    ]") and lines[index + 1].startswith('    _import_structure["dreamlite"]')
    assert tree.read(PIPELINES_INIT) == upstream.read(PIPELINES_INIT)


# ------------------------------------------------------------------------------------------ the two tools agree


@pytest.mark.parametrize("export", [False, True])
def test_check_registration_accepts_what_register_writes_for_an_output_dataclass(upstream, export):
    # A new pipeline package's init follows its siblings: most keep the output dataclass in the unguarded
    # `_import_structure = {...}` with no TYPE_CHECKING import (pipelines/flux). The check reports that form as
    # information only; and an output a parent init imports back gets the guarded form, mirrored under TYPE_CHECKING.
    tree = upstream.layer()
    tree.apply(
        {
            "pipelines/foo/pipeline_foo.py": FOO_PIPELINE,
            "pipelines/foo/pipeline_output.py": FOO_OUTPUT,
            "models/transformers/transformer_foo.py": FOO_MODEL,
        }
    )
    specs = [
        SymbolSpec(name="FooTransformer2DModel", module="diffusers.models.transformers.transformer_foo"),
        SymbolSpec(name="FooPipeline", module="diffusers.pipelines.foo.pipeline_foo"),
        SymbolSpec(name="FooPipelineOutput", module="diffusers.pipelines.foo.pipeline_output", export=export),
    ]
    edits = register_edits(tree, specs)
    tree.apply(edits.files)

    init = tree.read("pipelines/foo/__init__.py")
    unguarded = '_import_structure = {"pipeline_output": ["FooPipelineOutput"]}' in init
    assert unguarded is not export
    assert ("from .pipeline_output import FooPipelineOutput" in init) is export
    findings, _, _ = check_tree(tree, [spec.name for spec in specs])
    assert [(f.code, f.severity) for f in findings] == ([] if export else [("typing-missing", "info")])
    # The same form in upstream's own inits is information too, not a warning.
    flux, _, _ = check_tree(upstream, ["FluxPipelineOutput"])
    assert [(f.code, f.severity) for f in flux] == [("typing-missing", "info")]
