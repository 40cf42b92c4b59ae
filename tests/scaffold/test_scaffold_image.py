"""A 2D image model with a standard pipeline, scaffolded into the real tree and run."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.registry import check_registration
from diffusers_integrator.scaffold import ScaffoldRequest, scaffold

from .conftest import git_status, ruff, run_in_tree, run_pytest


REQUEST = {"model_name": "Foo", "dims": "2d", "tasks": ["text2image", "image2image"], "pipeline": "standard"}

# Builds the default tiny config in the tree's own diffusers and checks what issue 4 asks of the generated code.
E2E = r"""
import json, tempfile
import numpy as np, torch
import diffusers
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FooImg2ImgPipeline, FooPipeline
from diffusers import FooTransformer2DModel
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel
from diffusers_integrator.scaffold import configs

out = {"diffusers": diffusers.__file__}
torch.manual_seed(0)
transformer = FooTransformer2DModel(**configs.tiny_transformer_config("2d")).eval()
inputs = dict(hidden_states=torch.randn(2, 4, 16, 16), encoder_hidden_states=torch.randn(2, 7, 32),
              timestep=torch.tensor([999.0, 10.0]))
with torch.no_grad():
    sample = transformer(**inputs).sample
    with tempfile.TemporaryDirectory() as folder:
        transformer.save_pretrained(folder)
        reloaded = FooTransformer2DModel.from_pretrained(folder)
        out["roundtrip_max_diff"] = (reloaded(**inputs).sample - sample).abs().max().item()
out["forward_shape"] = list(sample.shape)
out["forward_finite"] = bool(torch.isfinite(sample).all())

vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
for word in configs.TINY_VOCAB_WORDS:
    vocab.setdefault(word, len(vocab))
backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
backend.pre_tokenizer = Whitespace()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
text_encoder = T5EncoderModel(T5Config(**configs.tiny_text_encoder_config())).eval()
vae = AutoencoderKL(**configs.tiny_vae_config("2d")).eval()
pipe = FooPipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                   text_encoder=text_encoder, tokenizer=tokenizer)
pipe.set_progress_bar_config(disable=True)
call = configs.tiny_call_kwargs("2d")

def run(seed, **kwargs):
    return pipe("a cat on the mat", generator=torch.Generator().manual_seed(seed), **call, **kwargs).images

images = run(0, output_type="np")
out["images_shape"] = list(images.shape)
out["same_seed_max_diff"] = float(np.abs(run(0, output_type="np") - images).max())
out["other_seed_max_diff"] = float(np.abs(run(1, output_type="np") - images).max())
out["latents_shape"] = list(run(0, output_type="latent").shape)
img2img = FooImg2ImgPipeline(**pipe.components)
img2img.set_progress_bar_config(disable=True)
edited = img2img(image=torch.rand(1, 3, 32, 32), prompt="a dog", strength=0.7, output_type="np",
                 generator=torch.Generator().manual_seed(0), **call).images
out["img2img_shape"] = list(edited.shape)
print(json.dumps(out))
"""


@pytest.fixture
def scaffolded(workspace: Path):
    result = scaffold(Checkout.find(workspace), ScaffoldRequest(**REQUEST))
    return workspace, result


def test_names_files_and_registrations(scaffolded, diffusers_tree: Path) -> None:
    workspace, result = scaffolded
    names = result.names
    assert (names.transformer, names.pipeline_package) == ("FooTransformer2DModel", "foo")
    assert [p.class_name for p in names.pipelines] == ["FooPipeline", "FooImg2ImgPipeline"]
    created = {f.path for f in result.files if f.action == "created"}
    assert {
        "src/diffusers/models/transformers/transformer_foo.py",
        "src/diffusers/pipelines/foo/pipeline_output.py",
        "src/diffusers/pipelines/foo/pipeline_foo.py",
        "src/diffusers/pipelines/foo/pipeline_foo_img2img.py",
        "tests/models/transformers/test_models_transformer_foo.py",
        "tests/pipelines/foo/test_foo.py",
        "tests/pipelines/foo/test_foo_img2img.py",
        "scripts/convert_foo_to_diffusers.py",
    } <= created
    assert all(f.purpose for f in result.files)
    assert set(result.registered) == {
        "FooTransformer2DModel",
        "FooPipeline",
        "FooImg2ImgPipeline",
        "FooPipelineOutput",
    }
    report = check_registration(Checkout.find(workspace), result.registered)
    assert report.ok, report.findings
    before = check_registration(Checkout.find(diffusers_tree), max_findings=0)
    assert check_registration(Checkout.find(workspace), max_findings=0).counts == before.counts
    # The registry wrote the inits and dummies; the scaffold's own files are all new.
    top = (workspace / "src/diffusers/__init__.py").read_text()
    assert '"FooPipeline"' in top and '"FooTransformer2DModel"' in top
    assert any("docs/" in item for item in result.skipped)


def test_generated_code_runs_end_to_end(scaffolded) -> None:
    workspace, _ = scaffolded
    out = run_in_tree(workspace, E2E)
    assert out["diffusers"].startswith(str(workspace)), "the tree's own diffusers must be imported"
    assert out["forward_shape"] == [2, 4, 16, 16] and out["forward_finite"]
    assert out["roundtrip_max_diff"] < 1e-5
    assert out["images_shape"] == [1, 32, 32, 3]
    assert out["latents_shape"] == [1, 4, 16, 16]
    assert out["same_seed_max_diff"] == 0.0
    assert out["other_seed_max_diff"] > 0.0
    assert out["img2img_shape"] == [1, 32, 32, 3]


def test_generated_files_are_clean_under_diffusers_ruff(scaffolded) -> None:
    workspace, result = scaffolded
    files = [f.path for f in result.files if f.path.endswith(".py") and f.action == "created"]
    check = ruff(workspace, "check", *files)
    assert check.returncode == 0, check.stdout
    fmt = ruff(workspace, "format", "--check", "--diff", *files)
    assert fmt.returncode == 0, fmt.stdout


def test_second_identical_call_changes_nothing(scaffolded) -> None:
    workspace, _ = scaffolded
    before = git_status(workspace)
    again = scaffold(Checkout.find(workspace), ScaffoldRequest(**REQUEST))
    assert again.changes == []
    assert {f.action for f in again.files} == {"unchanged"}
    assert git_status(workspace) == before
    assert again.summary.startswith("Nothing to do")


def test_dry_run_shows_every_diff_and_writes_nothing(workspace: Path, tmp_path: Path) -> None:
    checkout = Checkout.find(workspace)
    dry = scaffold(checkout, ScaffoldRequest(**REQUEST, dry_run=True))
    assert git_status(workspace) == ""
    assert dry.dry_run and dry.names.transformer == "FooTransformer2DModel"
    real = scaffold(checkout, ScaffoldRequest(**REQUEST))
    # The dry run announced exactly the diffs the real run then made (scaffold files and registry edits).
    assert {c.path: c.diff for c in dry.changes} == {c.path: c.diff for c in real.changes}
    assert all(change.diff for change in dry.changes)
    changed = {line[3:] for line in git_status(workspace).splitlines()}
    assert {c.path for c in real.changes} == changed


@pytest.mark.slow
def test_scaffolded_tests_pass_and_model_tests_skip_without_tester_mixins(scaffolded) -> None:
    workspace, _ = scaffolded
    run = run_pytest(workspace, "-q", "-rs", "tests/pipelines/foo", "tests/models/transformers")
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout
    assert "tests/models/testing_utils are not available here" in run.stdout
