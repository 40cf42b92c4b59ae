"""On a tree with a git clone's extras: upstream's test generator, tester mixins, docs toctree and copy checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.scaffold import ScaffoldRequest, scaffold

from .conftest import ruff, run_pytest


EVERYTHING = {
    "model_name": "Foo",
    "component": ["transformer", "autoencoder"],
    "dims": "2d",
    "tasks": ["text2image", "image2image"],
    "pipeline": "both",
    "custom_scheduler": True,
    "lora": True,
}


@pytest.fixture
def scaffolded(clone_workspace: Path):
    return clone_workspace, scaffold(Checkout.find(clone_workspace), ScaffoldRequest(**EVERYTHING))


def test_model_tests_come_from_upstreams_generator_with_the_stubs_filled(scaffolded) -> None:
    workspace, result = scaffolded
    assert not any("generate_model_tests.py is not in this checkout" in item for item in result.skipped)
    text = (workspace / "tests/models/transformers/test_models_transformer_foo.py").read_text()
    assert text.startswith("# coding=utf-8\n")  # upstream's header, not ours
    assert "class FooTransformerTesterConfig(BaseModelTesterConfig):" in text
    assert "TODO: Fill in dummy inputs" not in text and "return {}" not in text
    assert '"axes_dims_rope": (4, 4),' in text
    # No model-level LoRA testers in a first pull request (upstream's testing guide), so none of the generator's
    # stale `test_modeling_common` import of the hot-swapping mixin either.
    assert "test_modeling_common" not in text and "LoraTesterMixin" not in text
    # The checkpointing modules pinned, and the attention-backend tester upstream's DiTs carry.
    assert 'expected_set = {"FooTransformer2DModel"}' in text
    assert "AttentionBackendTesterMixin" in text
    vae_tests = workspace / "tests/models/autoencoders/test_models_autoencoder_kl_foo.py"
    assert "class AutoencoderKLFooTesterConfig(BaseModelTesterConfig):" in vae_tests.read_text()


def test_scaffolded_model_tests_are_collected(scaffolded) -> None:
    workspace, _ = scaffolded
    run = run_pytest(
        workspace,
        "--collect-only",
        "-q",
        "tests/models/transformers/test_models_transformer_foo.py",
        "tests/models/autoencoders/test_models_autoencoder_kl_foo.py",
    )
    assert run.returncode == 0, run.stdout[-3000:]
    collected = [line for line in run.stdout.splitlines() if "::" in line]
    for tester in ("Model", "Memory", "Attention", "AttentionBackend", "Training", "TorchCompile"):
        assert any(f"TestFooTransformer{tester}::" in line for line in collected), tester
    assert any("TestAutoencoderKLFooModel::test_from_save_pretrained" in line for line in collected)
    assert len(collected) > 100


def test_docs_pages_and_toctree_entries(scaffolded) -> None:
    workspace, result = scaffolded
    docs = workspace / "docs/source/en/api"
    for page in (
        "models/foo_transformer2d.md",
        "models/autoencoder_kl_foo.md",
        "schedulers/foo.md",
        "pipelines/foo.md",
    ):
        assert (docs / page).is_file(), page
    pipeline_page = (docs / "pipelines/foo.md").read_text()
    for autodoc in ("FooPipeline", "FooImg2ImgPipeline", "FooModularPipeline", "FooAutoBlocks"):
        assert f"[[autodoc]] {autodoc}" in pipeline_page
    toc = (workspace / "docs/source/en/_toctree.yml").read_text()
    for local, title in (
        ("api/models/foo_transformer2d", "FooTransformer2DModel"),
        ("api/models/autoencoder_kl_foo", "AutoencoderKLFoo"),
        ("api/schedulers/foo", "FooScheduler"),
        ("api/pipelines/foo", "Foo"),
    ):
        assert re.search(rf"- local: {local}\n\s+title: {title}\n", toc), local
    # Upstream's own checker finds the sections still sorted.
    check = subprocess.run([sys.executable, "utils/check_doc_toc.py"], cwd=workspace, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_generated_files_are_clean_under_the_clones_ruff_config(scaffolded) -> None:
    workspace, result = scaffolded
    files = [f.path for f in result.files if f.path.endswith(".py") and f.action == "created"]
    check = ruff(workspace, "check", *files)
    assert check.returncode == 0, check.stdout
    fmt = ruff(workspace, "format", "--check", "--diff", *files)
    assert fmt.returncode == 0, fmt.stdout


def test_long_names_stay_ruff_clean(clone_workspace: Path) -> None:
    request = {
        **EVERYTHING,
        "model_name": "HunyuanVideoFramepack XL",
        "dims": "3d",
        "tasks": ["text2video", "image2video"],
    }
    result = scaffold(Checkout.find(clone_workspace), ScaffoldRequest(**request))
    files = [f.path for f in result.files if f.path.endswith(".py") and f.action == "created"]
    assert ruff(clone_workspace, "check", *files).returncode == 0
    fmt = ruff(clone_workspace, "format", "--check", "--diff", *files)
    assert fmt.returncode == 0, fmt.stdout


@pytest.mark.slow
def test_lora_mixin_passes_upstreams_copy_check(scaffolded) -> None:
    workspace, _ = scaffolded
    # check_copies formats the copies it compares with the `ruff` on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    check = subprocess.run(
        [sys.executable, "utils/check_copies.py"], cwd=workspace, env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    lora = (workspace / "src/diffusers/loaders/lora_pipeline.py").read_text()
    assert "class FooLoraLoaderMixin(LoraBaseMixin):" in lora
    assert (
        "# Copied from diffusers.loaders.lora_pipeline.SD3LoraLoaderMixin.load_lora_into_transformer with "
        "SD3Transformer2DModel->FooTransformer2DModel" in lora
    )


@pytest.mark.slow
def test_scaffolded_model_tests_pass_on_the_tester_mixins(scaffolded) -> None:
    workspace, _ = scaffolded
    run = run_pytest(
        workspace, "-q", "tests/models/transformers/test_models_transformer_foo.py", "tests/models/autoencoders"
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert re.search(r"\d+ passed", run.stdout)
