"""Registering a new model and pipeline in a warm server vs upstream's `make fix-copies`, on a diffusers clone.

The tree: a working copy of a diffusers clone (`DIFFUSERS_CLONE`, else `../shared/diffusers/` unpacked), with a
new transformer module, a new pipeline package (its module and its output dataclass) written as a contributor
would. Ours: `register_names` in-process (a warm server's `register_lazy_import`): every init edited, the dummy
files regenerated, atomic writes through `Checkout`. The touched files are put back between runs.

Upstream has no registration tool: a contributor edits the inits by hand, then runs `make fix-copies`
(`python utils/check_copies.py --fix_and_overwrite` + `python utils/check_dummies.py --fix_and_overwrite`, from
the root with PYTHONPATH=src and the ruff setup.py pins), which regenerates the dummies. That command is timed on
the same tree with our edited inits and the dummy files as they were, and the dummy files it writes are compared
byte for byte with ours. Runs alternate; medians. Target: upstream / ours >= 10. Exits 1 when missed or when
the dummy files differ.

Run: `.venv/bin/python benchmarks/register.py [--runs N]`
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support.clone import find_clone, machine_load, ruff_pin, upstream_env, working_copy

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality.ruff_bin import find_ruff
from diffusers_integrator.registry import SymbolSpec, check_registration, register_names


TARGET = 10.0
MODEL = """import torch

from ...configuration_utils import ConfigMixin, register_to_config
from ..modeling_utils import ModelMixin


class FooTransformer2DModel(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, dim: int = 8):
        super().__init__()
        self.proj = torch.nn.Linear(dim, dim)
"""
OUTPUT = """from dataclasses import dataclass

import torch

from ...utils import BaseOutput


@dataclass
class FooPipelineOutput(BaseOutput):
    images: torch.Tensor
"""
PIPELINE = """from transformers import CLIPTextModel

from ...models import FooTransformer2DModel
from ..pipeline_utils import DiffusionPipeline
from .pipeline_output import FooPipelineOutput


class FooPipeline(DiffusionPipeline):
    def __init__(self, text_encoder: CLIPTextModel, transformer: FooTransformer2DModel):
        super().__init__()
        self.register_modules(text_encoder=text_encoder, transformer=transformer)
"""
SPECS = [
    SymbolSpec(name="FooTransformer2DModel", module="diffusers.models.transformers.transformer_foo"),
    SymbolSpec(name="FooPipeline", module="diffusers.pipelines.foo.pipeline_foo"),
    SymbolSpec(name="FooPipelineOutput", module="diffusers.pipelines.foo.pipeline_output", export=False),
]
FIX_COPIES = [
    ["python", "utils/check_copies.py", "--fix_and_overwrite"],
    ["python", "utils/check_dummies.py", "--fix_and_overwrite"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    clone, origin = find_clone()
    with tempfile.TemporaryDirectory(prefix="bench-register-") as folder:
        root = working_copy(clone, Path(folder))
        package = root / "src" / "diffusers"
        (package / "models/transformers/transformer_foo.py").write_text(MODEL)
        (package / "pipelines/foo").mkdir()
        (package / "pipelines/foo/pipeline_output.py").write_text(OUTPUT)
        (package / "pipelines/foo/pipeline_foo.py").write_text(PIPELINE)
        checkout = Checkout.find(root)
        binary = find_ruff(ruff_pin(root))
        env = upstream_env(root, str(Path(binary.path).parent))

        touched = [change.path for change in register_names(checkout, SPECS, dry_run=True).changes]
        originals = {path: (root / path).read_text() if (root / path).exists() else None for path in touched}
        dummies = [path for path in touched if "/utils/dummy_" in path]

        def put_back(paths: list[str]) -> None:
            for path in paths:
                text = originals[path]
                if text is None:
                    (root / path).unlink(missing_ok=True)
                else:
                    (root / path).write_text(text)

        register_names(checkout, SPECS)  # warm: the server has read the tree once already
        ours_s, upstream_s = [], []
        registered: dict[str, str] = {}
        same = True
        for _ in range(args.runs):
            put_back(touched)
            started = time.perf_counter()
            result = register_names(checkout, SPECS)
            ours_s.append(time.perf_counter() - started)
            registered = {path: (root / path).read_text() for path in touched}

            put_back(dummies)  # the inits as we edited them, the dummies as they were: what fix-copies regenerates
            started = time.perf_counter()
            for command in FIX_COPIES:
                subprocess.run(command, cwd=root, env=env, capture_output=True, check=True)
            upstream_s.append(time.perf_counter() - started)
            same = same and all((root / path).read_text() == registered[path] for path in dummies)
        report = check_registration(checkout, [spec.name for spec in SPECS])
        consistent = report.ok  # no error (warnings are the engine's style notes, printed below)

    ours, upstream = statistics.median(ours_s), statistics.median(upstream_s)
    ratio = upstream / ours
    ok = ratio >= TARGET and same and consistent
    print(f"clone: {origin}")
    print(f"machine: {machine_load()}")
    print(
        f"registered: {', '.join(spec.name for spec in SPECS)}; files touched: {len(touched)} "
        f"({', '.join(path.removeprefix('src/diffusers/') for path in touched)}); result: {result.summary}"
    )
    print(f"ours, register_names in-process (a warm server), median of {args.runs}: {ours * 1000:.0f} ms")
    print(
        f"upstream `make fix-copies` (check_copies + check_dummies --fix_and_overwrite, ruff {binary.version}), "
        f"median of {args.runs}: {upstream * 1000:.0f} ms"
    )
    print(
        f"  its dummy files equal ours byte for byte: {same}; check_registration on the names: "
        f"{'no error' if consistent else 'ERRORS'} ({report.summary})"
    )
    print(f"ratio upstream / ours: {ratio:.1f}x (target >= {TARGET:g}x) -> {'met' if ok else 'MISSED'}")
    print("upstream command: " + " && ".join(" ".join(command) for command in FIX_COPIES))
    print("command: .venv/bin/python benchmarks/register.py " + " ".join(sys.argv[1:]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
