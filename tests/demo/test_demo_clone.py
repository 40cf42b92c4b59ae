"""`make demo` on a real diffusers clone: the whole integration, judged from the tree and files it leaves.

On a clone upstream's tester mixins are there, so every generated test file must run (not skip) and pass; the
assertions read the kept tree, the PNG and pytest's own JUnit report, not the demo's narration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from diffusers_integrator.testing import tiny_dit_integration as integration

from ..conftest import CLONE_VARIABLE


@pytest.mark.slow
def test_the_demo_on_a_clone_leaves_a_working_integration(diffusers_clone: Path, tmp_path: Path) -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "diffusers_integrator.cli", "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=3000,
        env={**os.environ, CLONE_VARIABLE: str(diffusers_clone)},
    )
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
    tree = tmp_path / "diffusers"
    assert (tree / "docs" / "source" / "en" / "_toctree.yml").is_file(), "the tree is the clone, docs and all"

    # The model file holds the port, not the scaffold's skeleton (which had a cross-attention and a text MLP).
    model = (tree / integration.MODEL_FILE).read_text()
    assert "joint attention" in model and "AdaLayerNormContinuous" in model
    assert "attn2" not in model and "PixArtAlphaTextProjection" not in model
    script = (tree / integration.CONVERSION_SCRIPT).read_text()
    assert "TODO" not in script and '"patch_proj.": "patch_embed."' in script

    # The shipped script converted the research checkpoint into a from_pretrained folder.
    converted = tree / integration.CONVERTED / "transformer"
    assert json.loads((converted / "config.json").read_text())["_class_name"] == "TinyDiTTransformer2DModel"
    assert (converted / "diffusion_pytorch_model.safetensors").stat().st_size > 100_000

    # The pipeline made a real picture: a PNG with more than one colour in it.
    from PIL import Image, ImageStat

    with Image.open(tmp_path / "tiny_dit.png") as image:
        assert image.format == "PNG" and image.size == (64, 64)
        assert max(ImageStat.Stat(image.convert("RGB")).stddev) > 1.0

    # pytest's own report: every generated test file ran on the clone, nothing failed.
    suite = ElementTree.parse(tmp_path / "generated-tests.xml").getroot().find("testsuite")
    assert int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0
    ran = int(suite.get("tests")) - int(suite.get("skipped"))
    assert ran >= 30, f"only {ran} generated tests ran"
    modules = {
        case.get("classname", "").rsplit(".", 1)[0] for case in suite.iter("testcase") if case.find("skipped") is None
    }
    for prefix in ("tests.models.transformers", "tests.pipelines.tiny_dit", "tests.modular_pipelines.tiny_dit"):
        assert any(module.startswith(prefix) for module in modules), f"no test of {prefix} ran"

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] and report["scorecard"]["full"]
    assert report["facts"]["quality"]["findings_total"] == 0
    assert report["facts"]["tests"]["passed"] == ran and report["facts"]["tests"]["clone"]
    assert "![TinyDiT, end to end](tiny_dit.png)" in (tmp_path / "report.md").read_text()
