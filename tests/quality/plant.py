"""Planting the faults upstream's gates reject into a real diffusers tree, and where each must be reported.

Each helper edits the workspace the way a contributor's change would and returns the (path, line) a correct
checker must point at, computed from the file itself rather than hard-coded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffusers_integrator.testing.trees import run_git


PKG = "src/diffusers"


@dataclass(frozen=True)
class Spot:
    path: str
    line: int


def line_of(root: Path, path: str, needle: str, start: int = 1) -> int:
    lines = (root / path).read_text().splitlines()
    for number, line in enumerate(lines[start - 1 :], start=start):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def replace_line(root: Path, path: str, old: str, new: str) -> int:
    """Replaces the first line containing `old` with `new` (same indentation); returns its number."""
    target = root / path
    lines = target.read_text().splitlines(keepends=True)
    number = line_of(root, path, old)
    indent = lines[number - 1][: len(lines[number - 1]) - len(lines[number - 1].lstrip())]
    lines[number - 1] = indent + new + "\n"
    target.write_text("".join(lines))
    return number


TINY_MODEL = """\
# A tiny model written the way reviewers do not want it.
import os

import torch
from einops import rearrange
from torch import nn

from ...configuration_utils import ConfigMixin, register_to_config
from ..modeling_utils import ModelMixin


class TinyPlantedModel(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, dim: int = 8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.scale = nn.Parameter(torch.empty(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = rearrange(x, "b c h w -> b (h w) c")
        return self.proj(x).to(torch.float64) * self.scale
"""
MODEL_PATH = f"{PKG}/models/transformers/transformer_tiny_planted.py"


def plant_model(root: Path) -> dict[str, Spot]:
    """A new model file: an unused import, einops, `torch.empty` init and float64."""
    (root / MODEL_PATH).write_text(TINY_MODEL)
    return {
        "unused-import": Spot(MODEL_PATH, line_of(root, MODEL_PATH, "import os")),
        "einops": Spot(MODEL_PATH, line_of(root, MODEL_PATH, "from einops import")),
        "torch-empty-init": Spot(MODEL_PATH, line_of(root, MODEL_PATH, "torch.empty")),
        "float64": Spot(MODEL_PATH, line_of(root, MODEL_PATH, "torch.float64")),
    }


UNFORMATTED_PATH = f"{PKG}/schedulers/scheduling_pndm.py"


def plant_unformatted(root: Path) -> Spot:
    """A helper appended to an existing scheduler in a style ruff format rewrites (and nothing else flags)."""
    target = root / UNFORMATTED_PATH
    text = target.read_text()
    target.write_text(text + "\n\ndef planted_helper( value ):\n    return {'value':value}\n")
    return Spot(UNFORMATTED_PATH, line_of(root, UNFORMATTED_PATH, "def planted_helper"))


UNSORTED_PATH = f"{PKG}/schedulers/scheduling_ddim.py"


def plant_unsorted(root: Path) -> Spot:
    """`import torch` moved above `import numpy as np`: ruff reports the import block at its first line."""
    target = root / UNSORTED_PATH
    text = target.read_text()
    assert "import numpy as np\nimport torch\n" in text
    target.write_text(text.replace("import numpy as np\nimport torch\n", "import torch\nimport numpy as np\n", 1))
    return Spot(UNSORTED_PATH, line_of(root, UNSORTED_PATH, "import math"))


STALE_COPY_PATH = f"{PKG}/schedulers/scheduling_euler_discrete.py"


def plant_stale_copy(root: Path) -> Spot:
    """A hand edit inside `# Copied from diffusers.schedulers.scheduling_ddpm.DDPMSchedulerOutput with ...`."""
    marker = line_of(root, STALE_COPY_PATH, "# Copied from diffusers.schedulers.scheduling_ddpm.DDPMSchedulerOutput")
    line = line_of(root, STALE_COPY_PATH, "prev_sample: torch.Tensor", start=marker)
    lines = (root / STALE_COPY_PATH).read_text().splitlines(keepends=True)
    lines[line - 1] = lines[line - 1].replace("torch.Tensor", "torch.FloatTensor")
    (root / STALE_COPY_PATH).write_text("".join(lines))
    return Spot(STALE_COPY_PATH, line)


PIPELINE_PATH = f"{PKG}/pipelines/tiny_planted/pipeline_tiny_planted.py"
TINY_PIPELINE = """\
from ..pipeline_utils import DiffusionPipeline


class TinyPlantedPipeline(DiffusionPipeline):
    def __call__(self, prompt: str):
        return prompt
"""


def plant_pipeline(root: Path) -> Spot:
    """A pipeline whose `__call__` lacks `@torch.no_grad()`."""
    (root / PIPELINE_PATH).parent.mkdir(parents=True, exist_ok=True)
    (root / PIPELINE_PATH).write_text(TINY_PIPELINE)
    return Spot(PIPELINE_PATH, line_of(root, PIPELINE_PATH, "def __call__"))


# A small toctree in upstream's format (docs/source/en/_toctree.yml): nested `sections`, entries with
# `local` (page path without .md) and `title`, the API model sections sorted by title.
TOCTREE = """\
- sections:
  - local: index
    title: Diffusers
  - local: installation
    title: Installation
  title: Get started
- isExpanded: false
  sections:
  - sections:
    - local: api/models/overview
      title: Overview
    - sections:
      - local: api/models/flux_transformer
        title: FluxTransformer2DModel
      - local: api/models/sd3_transformer2d
        title: SD3Transformer2DModel
      - local: api/models/wan_transformer_3d
        title: WanTransformer3DModel
      title: Transformers
    - sections:
      - local: api/models/autoencoderkl
        title: AutoencoderKL
      - local: api/models/autoencoder_kl_wan
        title: AutoencoderKLWan
      title: VAEs
    title: Models
  - sections:
    - local: api/pipelines/overview
      title: Overview
    - local: api/pipelines/flux
      title: Flux
    - local: api/pipelines/wan
      title: Wan
    title: Pipelines
  title: API
"""
TOCTREE_PATH = "docs/source/en/_toctree.yml"


def add_docs(root: Path) -> None:
    """Docs that exist at the base commit: the toctree and its pages, committed."""
    docs = root / "docs" / "source" / "en"
    (docs / "api" / "models").mkdir(parents=True)
    (docs / "api" / "pipelines").mkdir(parents=True)
    (docs / "_toctree.yml").write_text(TOCTREE)
    for local in (
        "index",
        "installation",
        "api/models/overview",
        "api/models/flux_transformer",
        "api/models/sd3_transformer2d",
        "api/models/wan_transformer_3d",
        "api/models/autoencoderkl",
        "api/models/autoencoder_kl_wan",
        "api/pipelines/overview",
        "api/pipelines/flux",
        "api/pipelines/wan",
    ):
        (docs / f"{local}.md").write_text(f"# {local.rsplit('/', 1)[-1]}\n")
    run_git(root, "add", "docs")
    run_git(root, "commit", "-q", "-m", "docs")


def plant_docs_page(root: Path) -> Spot:
    """A new model page not listed: it belongs in Transformers, after SD3… and before Wan… (sorted by title)."""
    page = root / "docs" / "source" / "en" / "api" / "models" / "tiny_planted_transformer.md"
    page.write_text("<!-- Copyright 2026 -->\n\n# TinyPlantedTransformer2DModel\n\nA tiny model.\n")
    return Spot(TOCTREE_PATH, line_of(root, TOCTREE_PATH, "local: api/models/wan_transformer_3d"))
