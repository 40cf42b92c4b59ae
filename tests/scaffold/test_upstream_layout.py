"""Scaffolding on a git clone of upstream main: upstream's current test layout, and upstream's own checks.

The tree is a copy of the clone `$DIFFUSERS_CLONE` names, run against its own `src/` (PYTHONPATH=src), as
upstream's CI runs. The layout assertions run in the fast suite (one scaffold); the checks upstream's CI and
`make quality` run, and the generated tests themselves, run for each shape of integration under `slow`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality.ruff_bin import DIFFUSERS_RUFF_PIN, find_ruff
from diffusers_integrator.scaffold import ScaffoldRequest, scaffold
from diffusers_integrator.testing.trees import copy_tree

from ..conftest import needs
from .conftest import run_pytest


VARIANTS = {
    # image, both pipeline kinds, every optional part
    "image-both": {
        "model_name": "Foo",
        "component": ["transformer", "autoencoder"],
        "dims": "2d",
        "tasks": ["text2image", "image2image"],
        "pipeline": "both",
        "custom_scheduler": True,
        "lora": True,
    },
    "video-both": {
        "model_name": "Bar Video",
        "dims": "3d",
        "tasks": ["text2video", "image2video"],
        "pipeline": "both",
        "lora": True,
    },
    "image-standard": {"model_name": "Baz", "dims": "2d", "tasks": ["text2image"], "pipeline": "standard"},
    "video-modular": {
        "model_name": "Qux",
        "dims": "3d",
        "tasks": ["text2video", "image2video"],
        "pipeline": "modular",
    },
}
UPSTREAM_CHECKS = [
    "check_copies",
    "check_dummies",
    "check_support_list",
    "check_forward_call_docstrings",
    "check_doc_toc",
]


def _scaffold_clone(diffusers_clone: Path, folder: Path, variant: str):
    tree = copy_tree(diffusers_clone, folder / variant)
    return tree, scaffold(Checkout.find(tree), ScaffoldRequest(**VARIANTS[variant]))


def _pinned_ruff() -> str:
    found = find_ruff(DIFFUSERS_RUFF_PIN)
    if found is None or not found.matches_pin:
        needs(
            f"ruff {DIFFUSERS_RUFF_PIN} (what diffusers pins)", "let make_quality install it once, or pip install it"
        )
    return found.path


@pytest.fixture(scope="module")
def image_both(diffusers_clone: Path, tmp_path_factory: pytest.TempPathFactory):
    return _scaffold_clone(diffusers_clone, tmp_path_factory.mktemp("upstream"), "image-both")


def test_tests_are_written_in_upstreams_current_layout(image_both) -> None:
    tree, result = image_both
    assert not [item for item in result.skipped if "testing_utils" in item]
    pipeline_test = (tree / "tests/pipelines/foo/test_pipeline_foo.py").read_text()
    assert "class FooPipelineTesterConfig(BasePipelineTesterConfig):" in pipeline_test
    assert "class TestFooPipeline(FooPipelineTesterConfig, PipelineTesterMixin):" in pipeline_test
    assert "class TestFooPipelineMemory(FooPipelineTesterConfig, MemoryTesterMixin):" in pipeline_test
    assert '"output_type": "pt"' in pipeline_test and "self.get_generator(0)" in pipeline_test
    assert (tree / "tests/pipelines/foo/test_pipeline_foo_img2img.py").is_file()
    modular_test = (tree / "tests/modular_pipelines/foo/test_modular_pipeline_foo.py").read_text()
    assert "class FooModularPipelineTesterConfig(BaseModularPipelineTesterConfig):" in modular_test
    for mixin in ("Pipeline", "Loading", "Workflow", "Memory", "Guider"):
        assert f"Modular{mixin}TesterMixin):" in modular_test, mixin
    assert '("denoise.set_timesteps", "FooImg2ImgSetTimestepsStep"),' in modular_test  # expected_workflow_blocks
    model_test = (tree / "tests/models/transformers/test_models_transformer_foo.py").read_text()
    assert 'expected_set = {"FooTransformer2DModel"}' in model_test
    assert "(FooTransformerTesterConfig, AttentionBackendTesterMixin):" in model_test
    assert "LoraTesterMixin" not in model_test  # not in a first pull request, says upstream's testing guide


def test_the_transformer_caches_and_every_registry_upstream_keeps_knows_the_model(image_both) -> None:
    tree, result = image_both
    package = tree / "src/diffusers"
    model = (package / "models/transformers/transformer_foo.py").read_text()
    assert "CacheMixin" in model.split("class FooTransformer2DModel(", 1)[1].split(":", 1)[0]
    auto = (package / "pipelines/auto_pipeline.py").read_text()
    assert '("foo", FooPipeline),' in auto and '("foo", FooImg2ImgPipeline),' in auto
    assert "from .foo import FooImg2ImgPipeline, FooPipeline" in auto
    assert '"FooLoraLoaderMixin",' in (package / "loaders/__init__.py").read_text()
    assert "FooLoraLoaderMixin" in result.registered
    mapping = (package / "modular_pipelines/modular_pipeline.py").read_text()
    assert '("foo", _create_default_map_fn("FooModularPipeline")),' in mapping
    assert "loaders.lora_pipeline.FooLoraLoaderMixin" in (tree / "docs/source/en/api/loaders/lora.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_scaffold_passes_upstreams_checks_and_its_tests_pass_on_cpu(
    diffusers_clone: Path, tmp_path: Path, variant: str
) -> None:
    ruff = _pinned_ruff()
    tree, result = _scaffold_clone(diffusers_clone, tmp_path, variant)
    changed = [f.path for f in result.files if f.path.endswith(".py")]
    changed += [c.path for c in result.changes if c.path.endswith(".py") and c.path not in changed]
    # ruff as diffusers pins it, with the clone's own configuration (pyproject.toml at its root).
    for args in (["check"], ["format", "--check", "--diff"]):
        run = subprocess.run([ruff, *args, *changed], cwd=tree, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
    env = {
        **os.environ,
        "PYTHONPATH": str(tree / "src"),
        "PATH": f"{Path(ruff).parent}{os.pathsep}{os.environ['PATH']}",
    }
    for check in UPSTREAM_CHECKS:
        run = subprocess.run(
            [sys.executable, f"utils/{check}.py"], cwd=tree, env=env, capture_output=True, text=True, timeout=600
        )
        assert run.returncode == 0, f"{check}: {run.stdout[-2000:]}{run.stderr[-2000:]}"
    tests = [f.path for f in result.files if f.path.startswith("tests/") and f.path.endswith(".py")]
    tests = [path for path in tests if not path.endswith("__init__.py")]
    run = run_pytest(tree, "-q", *tests, timeout=2400)
    assert run.returncode == 0, run.stdout[-6000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
