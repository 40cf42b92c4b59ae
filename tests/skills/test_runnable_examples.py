"""The skills' runnable examples, run: the code agents copy is code that works.

Blocks fenced ```` ```python runnable ```` are executed here. Those with `file=PATH` are written into a copy of a
real diffusers clone, the model and pipeline are registered with our own `register_names` (as the skills tell
the agent to do), and the test files the skills show run with pytest inside that tree against upstream's own
tester mixins (`tests/models/testing_utils/`, `tests/pipelines/testing_utils/`). Parity specs are loaded with
our spec loader. Everything runs on this interpreter (3.11); on Python 3.10 every runnable block is compiled
with the real interpreter, the blocks that need no third-party package run, and the `locals()`-inside-a-
comprehension pitfall (KeyError on 3.10/3.11) is kept out of every block by an AST scan.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.parity.spec import load_spec
from diffusers_integrator.registry import SymbolSpec, register_names
from diffusers_integrator.skills import skills_dir
from diffusers_integrator.skills.examples import CodeBlock, code_blocks, runnable_blocks, runnable_files
from diffusers_integrator.testing.trees import copy_tree

from ..conftest import needs
from ..scaffold.conftest import run_pytest


PYTHON = {"python", "py", "python3"}
MODEL_FILE = "src/diffusers/models/transformers/transformer_foo.py"
PIPELINE_FILE = "src/diffusers/pipelines/foo/pipeline_foo.py"
MODEL_TESTS = "tests/models/transformers/test_models_transformer_foo.py"
PIPELINE_TESTS = "tests/pipelines/foo/test_pipeline_foo.py"
# What the examples define and the skills register (registration.md): the tests import them from `diffusers`.
PUBLIC_NAMES = {"FooTransformer2DModel": MODEL_FILE, "FooPipeline": PIPELINE_FILE}
SPECS = ".diffusers-integrator/specs/"


def _texts() -> dict[str, str]:
    root = skills_dir()
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.md"))}


def _stand_alone() -> list[tuple[str, CodeBlock]]:
    return [(name, block) for name, block in runnable_blocks(_texts()) if block.file is None]


def _third_party_imports(source: str) -> set[str]:
    """Top-level packages a block imports that the standard library does not have."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add("." if node.level else (node.module or "").split(".")[0])
    return roots - set(sys.stdlib_module_names)


def _locals_in_comprehensions(source: str) -> list[int]:
    """Lines where `locals()` is called inside a comprehension: there it reads the comprehension's own scope
    (Python 3.10/3.11), so `{k: locals()[k] for k in names}` raises KeyError."""
    comprehensions = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    return sorted(
        call.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, comprehensions)
        for call in ast.walk(node)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "locals"
    )


PITFALL = """
def step():
    latents, prompt_embeds = 1, 2
    return {k: locals()[k] for k in ["latents", "prompt_embeds"]}

try:
    step()
except KeyError:
    print("KeyError")
"""


# ---- what is runnable, and the 3.10/3.11 pitfall ----


def test_the_model_attention_pipeline_and_their_tests_are_runnable() -> None:
    files = {f.path: [name for name, _ in f.blocks] for f in runnable_files(_texts())}
    # the attention classes first, then the model that uses them: one model file, as file-structure.md says
    assert files[MODEL_FILE] == ["integrating-models/attention.md", "integrating-models/model.md"]
    assert files[PIPELINE_FILE] == ["integrating-models/pipeline.md"]
    assert files["src/diffusers/pipelines/foo/pipeline_output.py"] == ["integrating-models/pipeline.md"]
    assert files[MODEL_TESTS] == files[PIPELINE_TESTS] == ["integrating-models/testing.md"]
    specs = sorted(path for path in files if path.startswith(SPECS))
    assert [Path(p).name for p in specs] == ["foo_modular.py", "foo_stages.py", "foo_transformer.py"]
    assert _stand_alone(), "the cheap snippets (imports, a weight_map) run on their own"


def test_no_python_block_calls_locals_inside_a_comprehension() -> None:
    hits = [
        f"{name}:{block.line + line - 1}"
        for name, text in _texts().items()
        for block in code_blocks(text)
        if block.language in PYTHON
        for line in _locals_in_comprehensions(block.text)
    ]
    assert not hits, f"locals() inside a comprehension raises KeyError on Python 3.10/3.11: {hits}"
    # The scan sees the pattern it guards against, and the pattern really fails on this interpreter.
    assert _locals_in_comprehensions(PITFALL) == [4]
    run = subprocess.run([sys.executable, "-c", PITFALL], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == ("KeyError" if sys.version_info < (3, 12) else "")


def test_the_pipeline_example_builds_its_callback_dict_from_one_locals_of_the_loop() -> None:
    source = "\n".join(
        block.text for _, block in next(f for f in runnable_files(_texts()) if f.path == PIPELINE_FILE).blocks
    )
    assert "step_locals = locals()" in source and "callback_kwargs[name] = step_locals[name]" in source


# ---- Python 3.11 (this interpreter): stand-alone blocks and parity specs ----


@pytest.mark.parametrize("name,block", _stand_alone(), ids=lambda v: v if isinstance(v, str) else str(v.line))
def test_a_stand_alone_block_runs(name: str, block: CodeBlock, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", block.text], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"{name}:{block.line}: {run.stderr[-3000:]}"


def test_the_parity_spec_examples_load_and_build_their_inputs(tmp_path: Path) -> None:
    import torch

    specs = [f for f in runnable_files(_texts()) if f.path.startswith(SPECS)]
    for file in specs:
        path = tmp_path / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.text, encoding="utf-8")
        spec = load_spec(path)  # what run_parity does first: imports it, checks reference/candidate/inputs
        inputs = spec.inputs()
        assert isinstance(inputs, dict) and inputs, file.path
        tensors = [v for v in inputs.values() if isinstance(v, torch.Tensor)]
        assert all(t.dtype in (torch.float32, torch.int64) for t in tensors), file.path  # CPU float32 specs
    stages = load_spec(tmp_path / SPECS / "foo_stages.py").stages
    assert stages is not None and stages["denoise"]["after_step_1"] == {"stop": True}


# ---- Python 3.10: compile everything, run what needs no third-party package ----


@pytest.fixture(scope="module")
def python310() -> str:
    """A real CPython 3.10 (pyenv's on these machines); $PYTHON310 overrides."""
    found = [os.environ.get("PYTHON310"), shutil.which("python3.10")]
    found += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10")), reverse=True)
    for candidate in filter(None, found):
        check = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"], capture_output=True, text=True
        )
        if check.stdout.strip() == "True":
            return candidate
    needs("a Python 3.10 interpreter", "`pyenv install 3.10` (or set PYTHON310=/path/to/python3.10)")


def test_every_runnable_block_compiles_on_python_3_10(python310: str) -> None:
    blocks = {f"{name}:{block.line}": block.text for name, block in runnable_blocks(_texts())}
    script = (
        "import json, sys\n"
        "errors = {}\n"
        "for where, text in json.load(sys.stdin).items():\n"
        "    try:\n"
        "        compile(text, where, 'exec', dont_inherit=True)\n"
        "    except SyntaxError as error:\n"
        "        errors[where] = f'{error.msg} (line {error.lineno})'\n"
        "print(json.dumps(errors))\n"
    )
    run = subprocess.run([python310, "-c", script], input=json.dumps(blocks), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {}
    assert len(blocks) >= 10


def test_blocks_that_need_no_third_party_package_run_on_python_3_10(python310: str, tmp_path: Path) -> None:
    plain = [(n, b) for n, b in _stand_alone() if not _third_party_imports(b.text)]
    assert plain, "at least one stand-alone block is plain Python"
    for name, block in plain:
        run = subprocess.run([python310, "-c", block.text], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"{name}:{block.line}: {run.stderr[-2000:]}"
    # and the pitfall the AST scan keeps out is real there too
    run = subprocess.run([python310, "-c", PITFALL], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "KeyError"


# ---- a real diffusers clone: the examples through upstream's tester mixins ----


@pytest.fixture(scope="module")
def examples_tree(diffusers_clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the clone with the examples written in and their public names registered."""
    tree = copy_tree(diffusers_clone, tmp_path_factory.mktemp("examples") / "diffusers")
    for file in runnable_files(_texts()):
        path = tree / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.text, encoding="utf-8")
        if file.path.startswith("tests/") and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")  # tests import `from ..testing_utils import ...`
    symbols = [SymbolSpec(name=name, module=module) for name, module in PUBLIC_NAMES.items()]
    result = register_names(Checkout.find(tree), symbols)
    assert set(result.added) == set(PUBLIC_NAMES), result.summary
    return tree


def _passed(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert " passed" in last and "failed" not in last and "error" not in last, last
    return last


def test_the_examples_pass_upstreams_attention_and_pipeline_mixins(examples_tree: Path) -> None:
    # The fast subset: the attention example through AttentionTesterMixin (processors, fused projections), and
    # the pipeline through the PipelineTesterMixin tests that exercise what pipeline.md teaches.
    chosen = [
        "test_pipeline_call_signature",
        "test_callback_inputs",
        "test_callback_cfg",
        "test_encode_prompt_works_in_isolation",
        "test_save_load_local",
        "test_output_type_latent_skips_the_vae",
    ]
    run = run_pytest(
        examples_tree,
        "-q",
        f"{MODEL_TESTS}::TestFooTransformerAttention",
        f"{PIPELINE_TESTS}::TestFooPipeline",
        "-k",
        " or ".join(["TestFooTransformerAttention", *chosen]),
        timeout=600,
    )
    last = _passed(run)
    assert int(last.split(" passed")[0].split()[-1]) >= 4 + len(chosen), last


@pytest.mark.slow
def test_the_examples_pass_every_upstream_mixin_they_use(examples_tree: Path) -> None:
    run = run_pytest(examples_tree, "-q", "-rs", MODEL_TESTS, PIPELINE_TESTS, timeout=1800)
    last = _passed(run)
    # Skipped on CPU only for want of an accelerator, or for a feature the example rightly does without.
    allowed = ("accelerator", "_keep_in_fp32_modules", "_optional_components")
    skips = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all(any(reason in line for reason in allowed) for line in skips), skips
    assert int(last.split(" passed")[0].split()[-1]) >= 40, last
