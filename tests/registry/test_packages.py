"""Regression tests for the three faults of issue 12, each on a real init of the release.

1. A family init with several backend blocks (`models/unets/__init__.py` held a torch and a flax block until
   upstream dropped flax) got a torch model in the flax block.
2. Guiders at the top level were keyed by module (`"guiders.<module>"`); upstream keys them `"guiders"`.
3. `hooks/`, `loaders/` and `quantizers/` were refused, and the refusal dropped the whole call.
"""

from __future__ import annotations

import pytest

from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.registry import SymbolSpec, register_names
from diffusers_integrator.registry.check import check_tree
from diffusers_integrator.registry.register import register_edits
from diffusers_integrator.registry.tree import MemoryTree


TORCH_MODULE = "import torch\n\n\nclass {name}(torch.nn.Module):\n    pass\n"


def _tree(pristine: MemoryTree, files: dict[str, str]) -> MemoryTree:
    tree = pristine.layer()
    tree.apply(files)
    return tree


def _block_of(text: str, line: str) -> str:
    """The `if is_x_available():` line that guards `line` in a plain init."""
    lines = text.split("\n")
    index = lines.index(line)
    return next(candidate for candidate in reversed(lines[:index]) if candidate.startswith("if "))


# ------------------------------------------------------------------------------------------ fault 1


def test_a_torch_model_goes_into_the_torch_block_of_a_family_init_that_also_has_a_flax_block(pristine):
    # The release's real `models/unets/__init__.py`, with the flax block upstream kept in it until flax was dropped
    # (`if is_flax_available():` + `from .unet_2d_condition_flax import FlaxUNet2DConditionModel`), last.
    real = pristine.read("models/unets/__init__.py")
    assert real.startswith("from ...utils import is_torch_available\n")
    with_flax = real.replace(
        "from ...utils import is_torch_available\n", "from ...utils import is_flax_available, is_torch_available\n"
    ) + ("\n\nif is_flax_available():\n    from .unet_2d_condition_flax import FlaxUNet2DConditionModel\n")
    tree = _tree(
        pristine,
        {
            "models/unets/__init__.py": with_flax,
            "models/unets/unet_2d_condition_flax.py": "class FlaxUNet2DConditionModel:\n    pass\n",
            "models/unets/unet_foo.py": TORCH_MODULE.format(name="FooUNetModel"),
        },
    )
    edits = register_edits(tree, [SymbolSpec(name="FooUNetModel", module="diffusers.models.unets.unet_foo")])
    family = edits.files["models/unets/__init__.py"]
    line = "    from .unet_foo import FooUNetModel"
    assert _block_of(family, line) == "if is_torch_available():"
    lines = family.split("\n")
    # In ruff's order among the torch imports; the flax block is untouched.
    assert lines[lines.index(line) - 1] == "    from .unet_dreamlite import DreamLiteUNetModel"
    assert family.endswith(
        "if is_flax_available():\n    from .unet_2d_condition_flax import FlaxUNet2DConditionModel\n"
    )
    assert family == with_flax.replace(
        "    from .unet_dreamlite import DreamLiteUNetModel\n",
        "    from .unet_dreamlite import DreamLiteUNetModel\n" + line + "\n",
    )
    assert '_import_structure["unets.unet_foo"] = ["FooUNetModel"]' in edits.files["models/__init__.py"]
    # Registering again changes nothing.
    tree.apply(edits.files)
    assert (
        register_edits(tree, [SymbolSpec(name="FooUNetModel", module="diffusers.models.unets.unet_foo")]).files == {}
    )


# ------------------------------------------------------------------------------------------ fault 2


def test_a_new_guider_is_registered_under_the_guiders_key_of_the_top_level(pristine):
    tree = _tree(pristine, {"guiders/foo_guidance.py": TORCH_MODULE.format(name="FooGuidance")})
    edits = register_edits(tree, [SymbolSpec(name="FooGuidance", module="diffusers.guiders.foo_guidance")])
    top = edits.files["__init__.py"]
    assert '"guiders.foo_guidance"' not in top
    lines = top.split("\n")
    at = lines.index('            "FooGuidance",')
    # Inside `_import_structure["guiders"].extend([...])` of the torch block, in custom_init_isort's order.
    opening = next(line for line in reversed(lines[:at]) if "_import_structure[" in line)
    assert opening == '    _import_structure["guiders"].extend('
    assert lines[at - 1 : at + 2] == [
        '            "ClassifierFreeZeroStarGuidance",',
        '            "FooGuidance",',
        '            "FrequencyDecoupledGuidance",',
    ]
    assert "            FooGuidance," in lines  # `from .guiders import (...)` under TYPE_CHECKING
    guiders = edits.files["guiders/__init__.py"]
    assert _block_of(guiders, "    from .foo_guidance import FooGuidance") == "if is_torch_available():"
    assert "class FooGuidance(metaclass=DummyObject):" in edits.files["utils/dummy_pt_objects.py"]
    tree.apply(edits.files)
    findings, _, _ = check_tree(tree, ["FooGuidance"])
    assert findings == []


# ------------------------------------------------------------------------------------------ fault 3


def test_a_hook_config_and_its_apply_function_are_registered_in_hooks_and_the_top_level(pristine):
    module = (
        "from dataclasses import dataclass\n\nimport torch\n\n\n@dataclass\nclass FooCacheConfig:\n    n: int = 1\n\n\n"
        "def apply_foo_cache(module: torch.nn.Module, config: FooCacheConfig) -> None:\n    pass\n"
    )
    tree = _tree(pristine, {"hooks/foo_cache.py": module})
    specs = [
        SymbolSpec(name="FooCacheConfig", module="diffusers.hooks.foo_cache"),
        SymbolSpec(name="apply_foo_cache", module="diffusers.hooks.foo_cache"),
    ]
    edits = register_edits(tree, specs)
    assert edits.not_placed == []
    hooks = edits.files["hooks/__init__.py"]
    line = "    from .foo_cache import FooCacheConfig, apply_foo_cache"
    assert _block_of(hooks, line) == "if is_torch_available():"
    assert hooks.split("\n")[hooks.split("\n").index(line) - 1] == (
        "    from .first_block_cache import FirstBlockCacheConfig, apply_first_block_cache"
    )
    top = edits.files["__init__.py"].split("\n")
    # Classes before functions in `_import_structure["hooks"]`, as upstream's sorter orders them.
    assert top.index('            "FooCacheConfig",') < top.index('            "HookRegistry",')
    assert top.index('            "apply_first_block_cache",') < top.index('            "apply_foo_cache",')
    dummies = edits.files["utils/dummy_pt_objects.py"]
    assert "class FooCacheConfig(metaclass=DummyObject):" in dummies and "def apply_foo_cache(" in dummies
    tree.apply(edits.files)
    findings, _, _ = check_tree(tree, ["FooCacheConfig", "apply_foo_cache"])
    assert findings == []


LORA = (
    "\n\nclass FooLoraLoaderMixin(LoraBaseMixin):\n"
    '    """Load LoRA layers into the Foo transformer."""\n\n    _lora_loadable_modules = ["transformer"]\n'
)


def test_a_lora_mixin_joins_the_lora_pipeline_list_of_loaders_under_torch_and_transformers(pristine):
    tree = _tree(pristine, {"loaders/lora_pipeline.py": pristine.read("loaders/lora_pipeline.py") + LORA})
    spec = SymbolSpec(name="FooLoraLoaderMixin", module="diffusers.loaders.lora_pipeline", export=False)
    edits = register_edits(tree, [spec])
    assert set(edits.files) == {"loaders/__init__.py"}  # not exported: no top level, no dummy, as upstream
    status = edits.statuses["FooLoraLoaderMixin"]
    # The module imports torch only; upstream guards its mixins by how they are used, and so do we.
    assert status.backends == ["torch", "transformers"]
    assert "names of lora_pipeline.py in loaders/__init__.py" in status.backends_reason
    loaders = edits.files["loaders/__init__.py"].split("\n")
    # Appended to the `+=` list upstream appends to, inside the nested `if is_transformers_available():`.
    at = loaders.index('            "FooLoraLoaderMixin",')
    assert loaders[at - 1] == '            "MiniMaxH3LoraLoaderMixin",' and loaders[at + 1] == "        ]"
    # Sorted into the TYPE_CHECKING import of the same nested block.
    typing_at = loaders.index("                FooLoraLoaderMixin,")
    assert loaders[typing_at - 1 : typing_at + 2] == [
        "                FluxLoraLoaderMixin,",
        "                FooLoraLoaderMixin,",
        "                HeliosLoraLoaderMixin,",
    ]
    tree.apply(edits.files)
    assert register_edits(tree, [spec]).files == {}


def test_a_quantization_config_is_registered_at_the_top_level_by_its_module_alone(pristine):
    config = pristine.read("quantizers/quantization_config.py") + "\n\nclass FooQuantConfig:\n    pass\n"
    tree = _tree(pristine, {"quantizers/quantization_config.py": config})
    # A backend whose two guards agree upstream (the sdnq, gguf, … blocks guard their halves differently).
    spec = SymbolSpec(
        name="FooQuantConfig", module="diffusers.quantizers.quantization_config", backends=["auto_round"]
    )
    edits = register_edits(tree, [spec])
    # quantizers/__init__.py imports nothing from quantization_config upstream, and stays so.
    assert set(edits.files) == {"__init__.py", "utils/dummy_auto_round_objects.py"}
    top = edits.files["__init__.py"]
    # Into the auto_round blocks of both halves, by the module's dotted path, as upstream registers AutoRoundConfig.
    assert '_import_structure["quantizers.quantization_config"].extend(["AutoRoundConfig", "FooQuantConfig"])' in top
    assert "        from .quantizers.quantization_config import AutoRoundConfig, FooQuantConfig" in top
    assert "class FooQuantConfig(metaclass=DummyObject):" in edits.files["utils/dummy_auto_round_objects.py"]


def test_a_name_that_cannot_be_placed_is_left_out_and_the_rest_registered(pristine):
    tree = _tree(
        pristine,
        {
            "loaders/lora_pipeline.py": pristine.read("loaders/lora_pipeline.py") + LORA,
            "guiders/foo_guidance.py": TORCH_MODULE.format(name="FooGuidance"),
        },
    )
    specs = [
        # loaders/__init__.py has no block guarded by torch+peft: where it would go is a person's call.
        SymbolSpec(
            name="FooLoraLoaderMixin",
            module="diffusers.loaders.lora_pipeline",
            export=False,
            backends=["torch", "peft"],
        ),
        SymbolSpec(name="FooGuidance", module="diffusers.guiders.foo_guidance"),
    ]
    edits = register_edits(tree, specs)
    assert [item.name for item in edits.not_placed] == ["FooLoraLoaderMixin"]
    left = edits.not_placed[0]
    assert left.path == "src/diffusers/loaders/__init__.py"
    assert "torch + peft" in left.problem and "by hand" in left.fix
    assert "loaders/__init__.py" not in edits.files  # nothing of it written
    assert "guiders/__init__.py" in edits.files and "FooGuidance" in edits.files["__init__.py"]


def test_the_result_and_summary_name_what_was_left_out(checkout):
    (checkout.package_dir / "guiders/foo_guidance.py").write_text(TORCH_MODULE.format(name="FooGuidance"))
    lora = checkout.package_dir / "loaders/lora_pipeline.py"
    lora.write_text(lora.read_text() + LORA)
    specs = [
        SymbolSpec(name="FooGuidance", module="diffusers.guiders.foo_guidance"),
        SymbolSpec(name="FooLoraLoaderMixin", module="diffusers.loaders.lora_pipeline", backends=["torch", "peft"]),
    ]
    result = register_names(checkout, specs, dry_run=True)
    assert result.added == ["FooGuidance"]
    assert [item.name for item in result.not_placed] == ["FooLoraLoaderMixin"]
    assert "NOT placed: FooLoraLoaderMixin" in result.summary
    # When no name can be placed, the call fails and says why.
    with pytest.raises(IntegratorError, match="FooLoraLoaderMixin"):
        register_names(checkout, specs[1:], dry_run=True)


# ------------------------------------------------------------------------------------------ modular mapping


def test_a_hand_written_modular_pipeline_gets_its_mapping_entry_and_loses_it_on_unregister(pristine):
    from diffusers_integrator.registry.register import unregister_edits

    pipeline = (
        "from ..modular_pipeline import ModularPipeline\n\n\n"
        'class FooModularPipeline(ModularPipeline):\n    default_blocks_name = "FooAutoBlocks"\n'
    )
    blocks = (
        "import torch\n\nfrom ..modular_pipeline import SequentialPipelineBlocks\n\n\n"
        'class FooAutoBlocks(SequentialPipelineBlocks):\n    model_name = "foo"\n'
    )
    tree = _tree(
        pristine,
        {"modular_pipelines/foo/modular_pipeline.py": pipeline, "modular_pipelines/foo/modular_blocks_foo.py": blocks},
    )
    specs = [
        SymbolSpec(name="FooModularPipeline", module="diffusers.modular_pipelines.foo.modular_pipeline"),
        SymbolSpec(name="FooAutoBlocks", module="diffusers.modular_pipelines.foo.modular_blocks_foo"),
    ]
    edits = register_edits(tree, specs)
    mapping = edits.files["modular_pipelines/modular_pipeline.py"].split("\n")
    entry = '        ("foo", _create_default_map_fn("FooModularPipeline")),'
    assert entry in mapping and mapping[mapping.index(entry) + 1] == "    ]"  # appended, as upstream appends
    assert "src/diffusers/modular_pipelines/modular_pipeline.py" in edits.statuses["FooModularPipeline"].added_to
    tree.apply(edits.files)
    assert register_edits(tree, specs).files == {}
    removed = unregister_edits(tree, ["FooModularPipeline", "FooAutoBlocks"])
    assert removed.files["modular_pipelines/modular_pipeline.py"] == pristine.read(
        "modular_pipelines/modular_pipeline.py"
    )
