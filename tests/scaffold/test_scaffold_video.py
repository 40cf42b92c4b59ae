"""A 3D video model with a modular pipeline and two tasks (text-to-video, image-to-video), scaffolded and run."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.registry import check_registration
from diffusers_integrator.scaffold import ScaffoldRequest, scaffold

from .conftest import git_status, ruff, run_in_tree, run_pytest


REQUEST = {
    "model_name": "Bar Video",
    "dims": "3d",
    "tasks": ["text2video", "image2video"],
    "pipeline": "modular",
    "lora": True,
}

E2E = r"""
import json, tempfile
import numpy as np, PIL.Image, torch
import diffusers
from diffusers import AutoencoderKLWan, BarVideoAutoBlocks, BarVideoTransformer3DModel, FlowMatchEulerDiscreteScheduler
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel
from diffusers_integrator.scaffold import configs

from diffusers.loaders import FluxLoraLoaderMixin, WanLoraLoaderMixin  # the LoRA edits broke nothing

out = {"diffusers": diffusers.__file__}
torch.manual_seed(0)
transformer = BarVideoTransformer3DModel(**configs.tiny_transformer_config("3d")).eval()
inputs = dict(hidden_states=torch.randn(1, 4, 2, 8, 8), encoder_hidden_states=torch.randn(1, 5, 32),
              timestep=torch.tensor([500.0]), encoder_attention_mask=torch.tensor([[1, 1, 1, 0, 0]]))
with torch.no_grad():
    sample = transformer(**inputs).sample
    with tempfile.TemporaryDirectory() as folder:
        transformer.save_pretrained(folder)
        reloaded = BarVideoTransformer3DModel.from_pretrained(folder)
        out["roundtrip_max_diff"] = (reloaded(**inputs).sample - sample).abs().max().item()
out["forward_shape"] = list(sample.shape)

vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
for word in configs.TINY_VOCAB_WORDS:
    vocab.setdefault(word, len(vocab))
backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
backend.pre_tokenizer = Whitespace()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
pipe = BarVideoAutoBlocks().init_pipeline()
out["pipeline_class"] = type(pipe).__name__
pipe.update_components(
    transformer=transformer,
    vae=AutoencoderKLWan(**configs.tiny_vae_config("3d")).eval(),
    scheduler=FlowMatchEulerDiscreteScheduler(),
    text_encoder=T5EncoderModel(T5Config(**configs.tiny_text_encoder_config())).eval(),
    tokenizer=tokenizer,
)
pipe.set_progress_bar_config(disable=True)
out["workflows"] = pipe.blocks.available_workflows
call = configs.tiny_call_kwargs("3d")

def run(seed, **kwargs):
    return pipe(prompt="a dog dance", negative_prompt="blue", generator=torch.Generator().manual_seed(seed),
                output="videos", **call, **kwargs)

videos = run(0, output_type="np")
out["t2v_shape"] = list(np.asarray(videos).shape)
out["same_seed_max_diff"] = float(np.abs(run(0, output_type="np") - videos).max())
out["other_seed_max_diff"] = float(np.abs(run(1, output_type="np") - videos).max())
out["latents_shape"] = list(run(0, output_type="latent").shape)
image = PIL.Image.new("RGB", (32, 32), color=(200, 30, 30))
out["i2v_shape"] = list(np.asarray(run(0, image=image, output_type="np")).shape)
i2v_latents = run(0, image=image, output_type="latent")
t2v_latents = run(0, output_type="latent")
out["i2v_differs_from_t2v"] = float((i2v_latents - t2v_latents).abs().max())
print(json.dumps(out))
"""


@pytest.fixture
def scaffolded(workspace: Path):
    return workspace, scaffold(Checkout.find(workspace), ScaffoldRequest(**REQUEST))


def test_modular_package_names_and_registrations(scaffolded, diffusers_tree: Path) -> None:
    workspace, result = scaffolded
    names = result.names
    assert names.transformer == "BarVideoTransformer3DModel"
    assert (names.modular_pipeline, names.modular_blocks) == ("BarVideoModularPipeline", "BarVideoAutoBlocks")
    assert (names.modular_package, names.modular_model_name, names.lora_mixin) == (
        "bar_video",
        "bar-video",
        "BarVideoLoraLoaderMixin",
    )
    assert names.pipelines == []
    folder = "src/diffusers/modular_pipelines/bar_video"
    created = {f.path for f in result.files if f.action == "created"}
    for module in (
        "modular_pipeline",
        "encoders",
        "before_denoise",
        "denoise",
        "decoders",
        "modular_blocks_bar_video",
    ):
        assert f"{folder}/{module}.py" in created
    edited = {f.path for f in result.files if f.action == "modified"}
    assert edited == {"src/diffusers/loaders/lora_pipeline.py"}
    # The MODULAR_PIPELINE_MAPPING entry comes from the registry, with the other registrations.
    registry_edits = {change.path for change in result.changes if change.action == "modified"}
    assert "src/diffusers/modular_pipelines/modular_pipeline.py" in registry_edits
    mapping = (workspace / "src/diffusers/modular_pipelines/modular_pipeline.py").read_text()
    assert '("bar-video", _create_default_map_fn("BarVideoModularPipeline")),' in mapping
    assert {"BarVideoTransformer3DModel", "BarVideoModularPipeline", "BarVideoAutoBlocks"} <= set(result.registered)
    # The LoRA mixin joins upstream's other mixins in loaders/__init__.py (not exported from `diffusers`).
    assert "BarVideoLoraLoaderMixin" in result.registered
    assert '"BarVideoLoraLoaderMixin",' in (workspace / "src/diffusers/loaders/__init__.py").read_text()
    report = check_registration(Checkout.find(workspace), result.registered)
    assert report.ok, report.findings
    # Nothing else in the tree became inconsistent: the whole-tree findings are upstream's own, unchanged.
    before = check_registration(Checkout.find(diffusers_tree), max_findings=0)
    after = check_registration(Checkout.find(workspace), max_findings=0)
    assert after.counts == before.counts
    denoise = (workspace / folder / "denoise.py").read_text()
    for call in ("guider.set_state(", "guider.prepare_inputs(", "guider.prepare_models(", "guider.cleanup_models("):
        assert call in denoise


def test_modular_pipeline_runs_both_workflows(scaffolded) -> None:
    workspace, _ = scaffolded
    out = run_in_tree(workspace, E2E)
    assert out["diffusers"].startswith(str(workspace))
    assert out["forward_shape"] == [1, 4, 2, 8, 8]
    assert out["roundtrip_max_diff"] < 1e-5
    assert out["pipeline_class"] == "BarVideoModularPipeline"
    assert out["workflows"] == ["text2video", "image2video"]
    assert out["t2v_shape"] == [1, 5, 32, 32, 3]
    assert out["i2v_shape"] == [1, 5, 32, 32, 3]
    assert out["latents_shape"] == [1, 4, 2, 4, 4]
    assert out["same_seed_max_diff"] == 0.0
    assert out["other_seed_max_diff"] > 0.0
    assert out["i2v_differs_from_t2v"] > 0.0


def test_generated_files_are_clean_under_diffusers_ruff(scaffolded) -> None:
    workspace, result = scaffolded
    files = [f.path for f in result.files if f.path.endswith(".py") and f.action == "created"]
    assert ruff(workspace, "check", *files).returncode == 0
    fmt = ruff(workspace, "format", "--check", "--diff", *files)
    assert fmt.returncode == 0, fmt.stdout


def test_second_identical_call_changes_nothing(scaffolded) -> None:
    workspace, _ = scaffolded
    before = git_status(workspace)
    again = scaffold(Checkout.find(workspace), ScaffoldRequest(**REQUEST))
    assert again.changes == [] and git_status(workspace) == before


def test_dry_run_writes_nothing_and_matches_the_real_run(workspace: Path) -> None:
    checkout = Checkout.find(workspace)
    dry = scaffold(checkout, ScaffoldRequest(**REQUEST, dry_run=True))
    assert git_status(workspace) == ""
    real = scaffold(checkout, ScaffoldRequest(**REQUEST))
    assert {c.path: c.diff for c in dry.changes} == {c.path: c.diff for c in real.changes}


@pytest.mark.slow
def test_scaffolded_modular_tests_pass(scaffolded) -> None:
    workspace, _ = scaffolded
    run = run_pytest(workspace, "-q", "tests/modular_pipelines/bar_video")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "5 passed" in run.stdout
