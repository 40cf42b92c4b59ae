"""One key map: the scaffolded conversion script converts a reference checkpoint, the result loads with
`from_pretrained`, and parity run through the script's own conversion function passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.parity.run import RunParityRequest, run_parity
from diffusers_integrator.scaffold import ScaffoldRequest, scaffold
from diffusers_integrator.scaffold.configs import tiny_transformer_config

from .conftest import run_in_tree


# A scaffold, a conversion in a subprocess and a parity run: about a minute on two cores.
pytestmark = pytest.mark.slow


# The original checkpoint's layout the scaffold's example key map converts (a DiT-style research checkpoint):
# diffusers fragment -> original fragment, for keys the fused projections do not cover.
ORIGINAL = [
    ("norm_out_modulation.", "final_layer.adaLN_modulation.1."),
    ("proj_out.", "final_layer.linear."),
    ("patch_embed.", "x_embedder.proj."),
    ("time_embedder.linear_1.", "t_embedder.mlp.0."),
    ("time_embedder.linear_2.", "t_embedder.mlp.2."),
    ("context_embedder.", "y_embedder."),
    ("transformer_blocks.", "blocks."),
    (".attn1.to_out.0.", ".self_attn.proj."),
    (".attn1.norm_q.", ".self_attn.q_norm."),
    (".attn1.norm_k.", ".self_attn.k_norm."),
    (".attn2.to_q.", ".cross_attn.q."),
    (".attn2.to_out.0.", ".cross_attn.proj."),
    (".attn2.norm_q.", ".cross_attn.q_norm."),
    (".attn2.norm_k.", ".cross_attn.k_norm."),
    (".norm2.", ".norm_cross."),
    (".ff.net.0.proj.", ".mlp.fc1."),
    (".ff.net.2.", ".mlp.fc2."),
    (".modulation.", ".adaLN_modulation.1."),
]

# Writes the reference: a seeded tiny model's weights in the original layout (fused QKV and KV), and its config.
WRITE_REFERENCE = """
import json, sys
import torch
from safetensors.torch import save_file
from diffusers import FooTransformer2DModel

config, original, folder = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
torch.manual_seed(0)
state = FooTransformer2DModel(**config).state_dict()
out = {}
for key in list(state):
    if ".attn1.to_q." in key:
        stem, tail = key.split(".attn1.to_q.")
        parts = [state.pop(f"{stem}.attn1.to_{p}.{tail}") for p in "qkv"]
        out[f"{stem}.self_attn.qkv.{tail}"] = torch.cat(parts)
    elif ".attn2.to_k." in key:
        stem, tail = key.split(".attn2.to_k.")
        parts = [state.pop(f"{stem}.attn2.to_{p}.{tail}") for p in "kv"]
        out[f"{stem}.cross_attn.kv.{tail}"] = torch.cat(parts)
out.update(state)
renamed = {}
for key, value in out.items():
    for new, old in original:
        key = key.replace(new, old)
    renamed[key] = value.contiguous().clone()
save_file(renamed, f"{folder}/original.safetensors")
with open(f"{folder}/config.json", "w") as file:
    json.dump(config, file)
print(json.dumps({"keys": len(renamed)}))
"""

# Loads what the script wrote, as a user would, and compares it with the model the weights came from.
LOAD_CONVERTED = """
import json, sys
import torch
from diffusers import FooTransformer2DModel

config, converted = json.loads(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
source = FooTransformer2DModel(**config).eval()
loaded = FooTransformer2DModel.from_pretrained(converted).eval()
torch.manual_seed(1)
inputs = {
    "hidden_states": torch.randn(1, 4, 8, 8),
    "encoder_hidden_states": torch.randn(1, 6, 32),
    "timestep": torch.tensor([500.0]),
}
with torch.no_grad():
    diff = (source(**inputs).sample - loaded(**inputs).sample).abs().max().item()
print(json.dumps({"max_diff": diff}))
"""

SPEC = '''"""Component parity of the conversion, through the shipped script's own key map (CPU, float32)."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))  # the checkout's diffusers, with the new model

from diffusers import FooTransformer2DModel  # noqa: E402

from diffusers_integrator.parity.conversion_script import model_from_script  # noqa: E402

WEIGHTS = ROOT / ".diffusers-integrator" / "weights" / "foo-reference"
CONFIG = json.loads((WEIGHTS / "config.json").read_text())


def reference():
    # The model the original weights were taken from: what the conversion has to give back.
    torch.manual_seed(0)
    return FooTransformer2DModel(**CONFIG)


def candidate():
    original = load_file(WEIGHTS / "original.safetensors")
    return model_from_script(ROOT / "scripts/convert_foo_to_diffusers.py", FooTransformer2DModel, original, config=CONFIG)


def inputs():
    generator = torch.Generator().manual_seed(1)
    return {
        "hidden_states": torch.randn(1, 4, 8, 8, generator=generator),
        "encoder_hidden_states": torch.randn(1, 6, 32, generator=generator),
        "timestep": torch.tensor([500.0]),
    }
'''


@pytest.fixture(scope="module")
def converted(diffusers_tree: Path, tmp_path_factory: pytest.TempPathFactory):
    from diffusers_integrator.testing.trees import copy_tree

    tree = copy_tree(diffusers_tree, tmp_path_factory.mktemp("conversion") / "diffusers")
    scaffold(Checkout.find(tree), ScaffoldRequest(model_name="Foo", dims="2d", pipeline="none"))
    weights = tree / ".diffusers-integrator" / "weights" / "foo-reference"
    weights.mkdir(parents=True)
    config = {
        key: list(value) if isinstance(value, tuple) else value for key, value in tiny_transformer_config("2d").items()
    }
    written = run_in_tree(tree, WRITE_REFERENCE, json.dumps(config), json.dumps(ORIGINAL), str(weights))
    output = weights.parent / "foo-diffusers"
    run = subprocess.run(
        [
            sys.executable,
            "scripts/convert_foo_to_diffusers.py",
            "--checkpoint_path",
            str(weights / "original.safetensors"),
            "--output_path",
            str(output),
            "--dtype",
            "fp32",
            "--config_path",
            str(weights / "config.json"),
        ],
        cwd=tree,
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return tree, config, written, output


def test_the_script_converts_a_reference_checkpoint_that_loads_with_from_pretrained(converted) -> None:
    tree, config, written, output = converted
    assert written["keys"] > 20
    assert (output / "transformer" / "config.json").is_file()
    loaded = run_in_tree(tree, LOAD_CONVERTED, json.dumps(config), str(output / "transformer"))
    assert loaded["max_diff"] < 1e-5


def test_parity_through_the_scripts_conversion_function_passes(converted) -> None:
    tree, _, _, _ = converted
    spec = tree / ".diffusers-integrator" / "specs" / "conversion_foo.py"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(SPEC)
    report = run_parity(
        Checkout.find(tree),
        RunParityRequest(spec=".diffusers-integrator/specs/conversion_foo.py", device="cpu", localize=False),
    )
    assert report.passed, report.model_dump_json()[:3000]


def test_a_key_the_script_leaves_unmapped_is_named(converted) -> None:
    tree, config, _, _ = converted
    script = (tree / "scripts/convert_foo_to_diffusers.py").read_text()
    broken = tree / ".diffusers-integrator" / "broken_convert.py"
    broken.write_text(script.replace('    "final_layer.linear.": "proj_out.",\n', ""))
    probe = """
import json, sys
from safetensors.torch import load_file
from diffusers import FooTransformer2DModel
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.parity.conversion_script import model_from_script

original = load_file(sys.argv[1])
try:
    model_from_script(sys.argv[2], FooTransformer2DModel, original, config=json.loads(sys.argv[3]))
except IntegratorError as error:
    print(json.dumps({"error": str(error)}))
"""
    weights = tree / ".diffusers-integrator" / "weights" / "foo-reference" / "original.safetensors"
    result = run_in_tree(tree, probe, str(weights), str(broken), json.dumps(config))
    assert "proj_out.weight" in result["error"] and "final_layer.linear.weight" in result["error"]
    assert IntegratorError  # the error class the helper raises, imported above for the reader
