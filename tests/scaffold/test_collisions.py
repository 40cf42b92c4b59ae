"""Refusals: a derived name that is already taken stops the scaffold before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.scaffold import ScaffoldRequest, scaffold
from diffusers_integrator.scaffold.edits import CollisionError

from .conftest import git_status


def refuse(workspace: Path, **request) -> str:
    with pytest.raises(CollisionError) as caught:
        scaffold(Checkout.find(workspace), ScaffoldRequest(**request))
    assert git_status(workspace) == "", "a refused scaffold must write nothing"
    return str(caught.value)


def test_existing_class_is_refused(workspace: Path) -> None:
    message = refuse(workspace, model_name="Flux", dims="2d", pipeline="standard")
    assert (
        "class FluxTransformer2DModel is already defined in src/diffusers/models/transformers/transformer_flux.py"
        in message
    )
    assert "class FluxPipeline is already defined" in message
    assert "Choose another model name" in message


def test_existing_pipeline_package_is_refused(workspace: Path) -> None:
    # No class clashes (upstream writes `DiT...`), but pipelines/dit/ is DiT's package.
    message = refuse(workspace, model_name="Dit", dims="2d", pipeline="standard")
    assert "package src/diffusers/pipelines/dit/ exists" in message


def test_existing_modular_package_is_refused(workspace: Path) -> None:
    message = refuse(workspace, model_name="Z Image", dims="2d", pipeline="modular")
    assert "package src/diffusers/modular_pipelines/z_image/ exists" in message


def test_existing_module_file_is_never_overwritten(workspace: Path) -> None:
    target = workspace / "src/diffusers/models/transformers/transformer_foo.py"
    target.write_text("# someone's work in progress\n")
    with pytest.raises(CollisionError) as caught:
        scaffold(Checkout.find(workspace), ScaffoldRequest(model_name="Foo", pipeline="none"))
    assert "src/diffusers/models/transformers/transformer_foo.py exists with other content" in str(caught.value)
    assert target.read_text() == "# someone's work in progress\n"
    assert git_status(workspace) == "?? src/diffusers/models/transformers/transformer_foo.py\n"


def test_taken_modular_model_name_is_refused(workspace: Path) -> None:
    # `qwenimage-edit` is a key of MODULAR_PIPELINE_MAPPING, though no package or class of that spelling exists.
    message = refuse(workspace, model_name="Qwenimage Edit", dims="2d", pipeline="modular")
    assert (
        'MODULAR_PIPELINE_MAPPING already maps "qwenimage-edit" (_create_default_map_fn("QwenImageEditModularPipeline"))'
        in message
    )


def test_every_clash_is_reported_at_once(workspace: Path) -> None:
    message = refuse(workspace, model_name="Wan", dims="3d", pipeline="both", lora=True)
    for clash in ("WanTransformer3DModel", "WanPipeline", "WanModularPipeline", "WanLoraLoaderMixin"):
        assert clash in message
    assert "package src/diffusers/pipelines/wan/ exists" in message
    assert 'MODULAR_PIPELINE_MAPPING already maps "wan"' in message


def test_an_older_tree_is_refused_with_the_reason(workspace: Path) -> None:
    dispatch = workspace / "src/diffusers/models/attention_dispatch.py"
    dispatch.unlink()
    with pytest.raises(IntegratorError) as caught:
        scaffold(Checkout.find(workspace), ScaffoldRequest(model_name="Foo", pipeline="none", dry_run=True))
    assert "`dispatch_attention_fn` in models/attention_dispatch.py" in str(caught.value)
    assert "recent diffusers" in str(caught.value)
