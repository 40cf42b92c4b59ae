"""make_quality scoped to a change vs the same gates over the whole tree, on the same tree.

Builds a diffusers tree from the installed package, makes a small change (a new model file with an unused
import and einops, a reformatted scheduler helper, an unsorted import, a hand-edited `# Copied from` block),
then alternates full-tree (`scope="all"`) and scoped (`scope="changed"`) runs of `run_quality` in-process, so
machine noise hits both alike. Prints the medians, their ratio, and whether both runs report the same findings
on the touched files. Target: ratio >= 5. Run: `.venv/bin/python benchmarks/quality.py [--runs N]`
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality import QualityRequest, QualityResult, run_quality
from diffusers_integrator.testing.trees import build_tree


PKG = "src/diffusers"
MODEL = """\
import os

import torch
from einops import rearrange
from torch import nn

from ...configuration_utils import ConfigMixin, register_to_config
from ..modeling_utils import ModelMixin


class BenchModel(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, dim: int = 8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(rearrange(x, "b c h w -> b (h w) c"))
"""


def make_change(root: Path) -> None:
    (root / PKG / "models/transformers/transformer_bench.py").write_text(MODEL)
    pndm = root / PKG / "schedulers/scheduling_pndm.py"
    pndm.write_text(pndm.read_text() + "\n\ndef bench_helper( value ):\n    return {'value':value}\n")
    ddim = root / PKG / "schedulers/scheduling_ddim.py"
    ddim.write_text(
        ddim.read_text().replace("import numpy as np\nimport torch\n", "import torch\nimport numpy as np\n", 1)
    )
    euler = root / PKG / "schedulers/scheduling_euler_discrete.py"
    text = euler.read_text()
    marker = text.index("# Copied from diffusers.schedulers.scheduling_ddpm.DDPMSchedulerOutput")
    at = text.index("prev_sample: torch.Tensor", marker)
    euler.write_text(text[:at] + "prev_sample: torch.FloatTensor" + text[at + len("prev_sample: torch.Tensor") :])


def keyed(result: QualityResult, files: set[str]) -> set[tuple]:
    return {(f.check, f.path, f.line, f.col, f.code, f.message) for f in result.findings if f.path in files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as folder:
        root = build_tree(Path(folder) / "diffusers")
        make_change(root)
        checkout = Checkout.find(root)
        version = checkout.diffusers_version()
        everything = QualityRequest(scope="all", max_findings=500)
        changed = QualityRequest(scope="changed", max_findings=500)

        # Cold: no ruff cache yet (the pinned ruff itself is installed beforehand by this warm-up of one file).
        run_quality(checkout, QualityRequest(scope=[f"{PKG}/schedulers/scheduling_ddim.py"], checks=["ruff-check"]))
        shutil.rmtree(checkout.state_dir / "ruff-cache", ignore_errors=True)
        started = time.perf_counter()
        cold = run_quality(checkout, everything)
        cold_s = time.perf_counter() - started

        full_times, scoped_times = [], []
        full = scoped = cold
        for _ in range(args.runs):
            started = time.perf_counter()
            full = run_quality(checkout, everything)
            full_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            scoped = run_quality(checkout, changed)
            scoped_times.append(time.perf_counter() - started)

    touched = set(scoped.files)
    same = keyed(full, touched) == keyed(scoped, touched) and scoped.findings_total == len(keyed(scoped, touched))
    full_s, scoped_s = statistics.median(full_times), statistics.median(scoped_times)
    print(f"tree: diffusers {version} from the installed package; {full.scope}")
    print(f"change: {len(touched)} touched files; ruff {full.ruff.version if full.ruff else '?'}")
    print(f"full tree, cold ruff cache : {cold_s:.3f} s ({cold.findings_total} findings)")
    print(f"full tree, median of {args.runs}  : {full_s:.3f} s ({full.findings_total} findings)")
    print(f"scoped,    median of {args.runs}  : {scoped_s:.3f} s ({scoped.findings_total} findings)")
    print(
        f"ratio full/scoped           : {full_s / scoped_s:.1f}x (target >= 5x); cold/scoped {cold_s / scoped_s:.1f}x"
    )
    print(f"same findings on the touched files: {same} ({len(keyed(scoped, touched))} findings)")
    for summary in full.summary:
        scoped_ms = next((s.duration_ms for s in scoped.summary if s.check == summary.check), 0)
        print(f"  {summary.check:<14} full {summary.duration_ms:>5} ms   scoped {scoped_ms:>5} ms")
    print("command: .venv/bin/python benchmarks/quality.py " + " ".join(sys.argv[1:]))
    if not same:
        raise SystemExit("the scoped run and the full run disagree on the touched files")


if __name__ == "__main__":
    main()
