"""Registering a new model + pipeline on the full diffusers tree, dummies included, against upstream's tooling.

Ours: `register_names` on a real checkout (files read from disk, every init edited, the dummy files regenerated,
atomic writes) for a model (`FooTransformer2DModel`), a pipeline (`FooPipeline`, a new package whose init is
created) and its output dataclass; the touched files are put back between runs. Also timed: the same plan in
memory (no disk), and a dry run.

Upstream, side by side on the same tree: upstream has no registration tool — a contributor edits the inits by
hand — so the comparable mechanical work is what `make fix-copies` / `make style` run afterwards: the dummy step
(`utils/check_dummies.py --fix_and_overwrite`, given `--upstream-utils`, a clone's `utils/` folder; the wheel
does not ship it) and ruff's import sorting + formatting of the touched inits (the venv's ruff, not the 0.9.10
upstream pins). The dummy files upstream's script writes are compared byte for byte with ours.

    .venv/bin/python benchmarks/register.py --upstream-utils /path/to/diffusers/utils
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.registry import SymbolSpec, check_registration, register_names
from diffusers_integrator.registry.register import register_edits
from diffusers_integrator.registry.tree import MemoryTree
from diffusers_integrator.testing.trees import build_tree


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
RUFF_CONFIG = """[tool.ruff]
line-length = 119

[tool.ruff.lint]
select = ["C", "E", "F", "I", "W"]

[tool.ruff.lint.isort]
lines-after-imports = 2
known-first-party = ["diffusers"]
"""
SPECS = [
    SymbolSpec(name="FooTransformer2DModel", module="diffusers.models.transformers.transformer_foo"),
    SymbolSpec(name="FooPipeline", module="diffusers.pipelines.foo.pipeline_foo"),
    SymbolSpec(name="FooPipelineOutput", module="diffusers.pipelines.foo.pipeline_output", export=False),
]


def _stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered) * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms   (n={len(ordered)})"


@contextlib.contextmanager
def _cwd(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--upstream-utils", type=Path, help="a diffusers clone's utils/ folder (check_dummies.py)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-register-"))
    try:
        root = build_tree(work / "diffusers", git=False)
        # diffusers' own ruff settings (its pyproject.toml, not in the wheel), so ruff judges as upstream's CI.
        (root / "pyproject.toml").write_text(RUFF_CONFIG)
        package = root / "src" / "diffusers"
        (package / "models/transformers/transformer_foo.py").write_text(MODEL)
        (package / "pipelines/foo").mkdir()
        (package / "pipelines/foo/pipeline_output.py").write_text(OUTPUT)
        (package / "pipelines/foo/pipeline_foo.py").write_text(PIPELINE)
        checkout = Checkout.find(root)

        planned = register_names(checkout, SPECS, dry_run=True)
        touched = [change.path for change in planned.changes]
        originals = {path: (root / path).read_text() if (root / path).exists() else None for path in touched}

        def reset() -> None:
            for path, text in originals.items():
                if text is None:
                    (root / path).unlink(missing_ok=True)
                else:
                    (root / path).write_text(text)

        ours, dry = [], []
        for _ in range(args.repeat):
            reset()
            started = time.perf_counter()
            register_names(checkout, SPECS, dry_run=True)
            dry.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = register_names(checkout, SPECS)
            ours.append(time.perf_counter() - started)
        assert len(result.changes) == len(touched) == 7, touched
        assert check_registration(checkout, [spec.name for spec in SPECS]).total == 0
        registered = {path: (root / path).read_text() for path in touched}

        reset()
        memory = MemoryTree.from_folder(package)
        in_memory = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            register_edits(memory, SPECS)
            in_memory.append(time.perf_counter() - started)

        print(f"registering a model + pipeline package + output dataclass on the full tree ({package})")
        print(f"files touched: {len(touched)} ({', '.join(path.split('src/diffusers/')[1] for path in touched)})")
        print(f"ours, register_names (disk, atomic writes): {_stats(ours)}")
        print(f"ours, register_names dry_run (diffs only):  {_stats(dry)}")
        print(f"ours, plan in memory (no I/O):             {_stats(in_memory)}")

        # ------------------------------------------------------------------ upstream side by side
        for path, text in registered.items():
            (root / path).write_text(text)
        dummies = [path for path in touched if "/utils/dummy_" in path]
        upstream_dummy = []
        script = args.upstream_utils / "check_dummies.py" if args.upstream_utils else None
        if script is not None and script.is_file():
            spec = importlib.util.spec_from_file_location("upstream_check_dummies", script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            for _ in range(args.repeat):
                for path in dummies:
                    (root / path).write_text(originals[path])  # the inits are edited, the dummies are stale
                with _cwd(root), contextlib.redirect_stdout(open(os.devnull, "w")):
                    started = time.perf_counter()
                    module.check_dummies(True)
                    upstream_dummy.append(time.perf_counter() - started)
            same = all((root / path).read_text() == registered[path] for path in dummies)
            print(f"upstream check_dummies --fix_and_overwrite (in-process): {_stats(upstream_dummy)}")
            print(f"  its dummy files equal ours byte for byte: {same}")
            started = time.perf_counter()
            shutil.copy(script, root / "check_dummies_upstream.py")
            done = subprocess.run(
                [sys.executable, "check_dummies_upstream.py", "--fix_and_overwrite"], cwd=root, capture_output=True
            )
            print(
                f"  as `make fix-copies` runs it (subprocess): {(time.perf_counter() - started) * 1000:.1f} ms, rc={done.returncode}"
            )
        else:
            print("upstream check_dummies: skipped (pass --upstream-utils <clone>/utils; the wheel has no utils/)")

        ruff = Path(sys.executable).with_name("ruff")
        inits = [path for path in touched if path.endswith("__init__.py")]
        if ruff.exists():
            version = subprocess.run([str(ruff), "--version"], capture_output=True, text=True).stdout.strip()
            ruff_times = []
            for _ in range(max(3, args.repeat // 3)):
                started = time.perf_counter()
                subprocess.run(
                    [str(ruff), "check", "--select", "I", "--fix", "-q", *inits], cwd=root, capture_output=True
                )
                subprocess.run([str(ruff), "format", "-q", *inits], cwd=root, capture_output=True)
                ruff_times.append(time.perf_counter() - started)
            print(f"upstream `make style` sorting step on the {len(inits)} inits ({version}): {_stats(ruff_times)}")
            unchanged = all((root / path).read_text() == registered[path] for path in inits)
            print(f"  ruff leaves our edited inits unchanged: {unchanged}")
        median = statistics.median(ours)
        if upstream_dummy:
            print(
                f"ratio ours (whole registration) / upstream dummy step alone: "
                f"{median / statistics.median(upstream_dummy):.1f}x"
            )
        print(f"target: median < 150 ms -> {'met' if median < 0.150 else 'MISSED'} ({median * 1000:.1f} ms)")
        print(f"command: {' '.join([sys.executable, *sys.argv])}")
        return 0 if median < 0.150 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
