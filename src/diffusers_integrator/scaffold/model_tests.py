"""The model test file: upstream's `utils/generate_model_tests.py` where the checkout has it, else our template.

Upstream's generator picks the tester mixins from the model's bases and attributes and leaves TODOs for the
init dict, the dummy inputs and the shapes. The scaffold knows those (it wrote the model and its tiny config),
so it fills them in; the file then runs as generated.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from ..checkout import Checkout
from ..errors import IntegratorError
from ..syntax import parse
from .render import wrap_class_headers


UPSTREAM_GENERATOR = "utils/generate_model_tests.py"


def generate_with_upstream(checkout: Checkout, model_rel: str, model_source: str, config_body: str) -> str:
    """Runs the checkout's generator on `model_source` (in a temporary copy: nothing is written in the tree)."""
    script = checkout.root / UPSTREAM_GENERATOR
    # The attention-backend tester, which upstream's DiTs carry (flux, wan), is one of the generator's options.
    include = (
        ["--include", "attention_backends"] if '"attention_backends"' in script.read_text(encoding="utf-8") else []
    )
    with tempfile.TemporaryDirectory(prefix="scaffold-") as folder:
        model_path = Path(folder) / model_rel
        model_path.parent.mkdir(parents=True)
        model_path.write_text(model_source, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, str(script), str(model_path), "--dry-run", *include],
            cwd=checkout.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        raise IntegratorError(
            f"{UPSTREAM_GENERATOR} failed on the scaffolded model: {result.stderr.strip()[-500:]}",
            "Check that the script runs in this checkout (`python utils/generate_model_tests.py --help`).",
        )
    text = fill_upstream_tests(result.stdout.rstrip("\n") + "\n", config_body)
    text = drop_testers(text, FIRST_PR_EXCLUDED)
    text = pin_gradient_checkpointing(text, model_source)
    return repair_stale_imports(text, checkout)


# Upstream's testing guide: no model-level LoRA testers in a model's first pull request.
FIRST_PR_EXCLUDED = ("LoraTesterMixin", "LoraHotSwappingForModelTesterMixin")


def drop_testers(text: str, testers: tuple[str, ...]) -> str:
    """Removes the test classes built on `testers`, and their imports."""
    tree = parse(text)
    lines = text.splitlines()
    spans = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            isinstance(base, ast.Name) and base.id in testers for base in node.bases
        ):
            first = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            while first > 0 and not lines[first - 1].strip():
                first -= 1
            spans.append((first, node.end_lineno))
    for start, end in sorted(spans, reverse=True):
        del lines[start:end]
    text = "\n".join(lines) + "\n"
    for name in testers:
        if not re.search(rf"\b{name}\b", text.split("\nclass ", 1)[-1]):
            text = re.sub(rf"^    {name},\n", "", text, flags=re.M)
            text = re.sub(rf"^from \S+ import {name}\n", "", text, flags=re.M)
    return text


def pin_gradient_checkpointing(text: str, model_source: str) -> str:
    """Gives the training tester the modules that checkpoint (`expected_set`), as upstream's DiT tests do; without
    it `test_gradient_checkpointing_is_applied` skips."""
    modules = sorted(
        node.name
        for node in ast.walk(parse(model_source))
        if isinstance(node, ast.ClassDef)
        and "self.gradient_checkpointing = False" in ast.get_source_segment(model_source, node)
    )
    tree = parse(text)
    training = next(
        (
            node
            for node in tree.body
            if isinstance(node, ast.ClassDef)
            and any(isinstance(base, ast.Name) and base.id == "TrainingTesterMixin" for base in node.bases)
        ),
        None,
    )
    if training is None or not modules or "expected_set" in text:
        return text
    lines = text.splitlines()
    body = [
        "",
        "    def test_gradient_checkpointing_is_applied(self):",
        "        expected_set = {" + ", ".join(f'"{name}"' for name in modules) + "}",
        "        super().test_gradient_checkpointing_is_applied(expected_set=expected_set)",
    ]
    only_pass = len(training.body) == 1 and isinstance(training.body[0], ast.Pass)
    if only_pass:
        lines[training.body[0].lineno - 1 : training.body[0].end_lineno] = body[1:]
    else:
        lines[training.end_lineno : training.end_lineno] = body
    return "\n".join(lines) + "\n"


def fill_upstream_tests(text: str, config_body: str) -> str:
    """Replaces the generator's TODO stubs with the scaffold's tiny config, inputs and shapes."""
    tree = parse(text)
    lines = text.splitlines()
    config = next(
        (node for node in tree.body if isinstance(node, ast.ClassDef) and node.name.endswith("TesterConfig")), None
    )
    if config is None:
        raise IntegratorError(
            f"{UPSTREAM_GENERATOR} wrote no `*TesterConfig` class; its output format changed.",
            "Fill in the generated test file by hand, following the testing skill.",
        )
    replaced = {"get_init_dict", "get_dummy_inputs", "input_shape", "output_shape", "main_input_name"}
    spans: list[tuple[int, int, list[str]]] = []
    for node in config.body:
        if isinstance(node, ast.FunctionDef) and node.name in replaced:
            first = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            # Also drop the blank line that precedes the method, so the new body keeps one blank line between.
            spans.append((first - 1 if not lines[first - 1].strip() else first, node.end_lineno, []))
    # The scaffold's methods go at the end of the config class.
    spans.append((config.end_lineno, config.end_lineno, ["", *config_body.rstrip("\n").splitlines()]))
    # Tester classes that stub `get_dummy_inputs(height, width)` inherit the config's implementation instead.
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node is not config:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "get_dummy_inputs":
                    body_start = item.body[0].lineno - 1
                    while body_start > item.lineno and lines[body_start - 1].strip().startswith("#"):
                        body_start -= 1
                    indent = " " * (item.col_offset + 4)
                    spans.append(
                        (
                            body_start,
                            item.end_lineno,
                            [f"{indent}return super().get_dummy_inputs(height=height, width=width)"],
                        )
                    )
    for start, end, new in sorted(spans, key=lambda span: span[0], reverse=True):
        lines[start:end] = new
    text = "\n".join(lines) + "\n"

    # The config builds on upstream's base class (the generator leaves it bare).
    text = re.sub(rf"^class {config.name}:$", f"class {config.name}(BaseModelTesterConfig):", text, flags=re.M)
    return wrap_class_headers(_add_to_import(text, "..testing_utils", "BaseModelTesterConfig"))


def repair_stale_imports(text: str, checkout: Checkout) -> str:
    """Moves tester mixins the generator imports from a module that no longer defines them to `..testing_utils`.

    Upstream's generator still imports `LoraHotSwappingForModelTesterMixin` from `tests/models/test_modeling_common.py`
    although the mixin moved into `tests/models/testing_utils`; the generated file would not import.
    """
    common = checkout.root / "tests/models/test_modeling_common.py"
    testing_utils = checkout.root / "tests/models/testing_utils/__init__.py"
    exported = testing_utils.read_text(encoding="utf-8") if testing_utils.is_file() else ""
    defined = common.read_text(encoding="utf-8") if common.is_file() else ""
    for match in list(re.finditer(r"^from \.\.test_modeling_common import (\w+)\n", text, re.M)):
        name = match.group(1)
        if re.search(rf"^class {name}\b", defined, re.M) or not re.search(rf"\b{name}\b", exported):
            continue
        text = text.replace(match.group(0), "", 1)
        text = _add_to_import(text, "..testing_utils", name)
    return text


def _add_to_import(text: str, module: str, name: str) -> str:
    pattern = re.compile(rf"^from {re.escape(module)} import \(\n(.*?)^\)\n", re.M | re.S)
    match = pattern.search(text)
    if match is None:
        return text.replace(f"from {module} import ", f"from {module} import {name}, ", 1)
    names = [line.strip().rstrip(",") for line in match.group(1).splitlines() if line.strip()]
    if name not in names:
        names.append(name)
    block = f"from {module} import (\n" + "".join(f"    {item},\n" for item in sorted(names)) + ")\n"
    return text[: match.start()] + block + text[match.end() :]
