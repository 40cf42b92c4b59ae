"""A tiny new model and pipeline, as an agent would have written them before registering."""

from __future__ import annotations

from pathlib import Path


FOO_MODEL = """import torch

from ...configuration_utils import ConfigMixin, register_to_config
from ..modeling_utils import ModelMixin


class FooTransformer2DModel(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, dim: int = 8):
        super().__init__()
        self.proj = torch.nn.Linear(dim, dim)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden_states)
"""

FOO_OUTPUT = """from dataclasses import dataclass

import torch

from ...utils import BaseOutput


@dataclass
class FooPipelineOutput(BaseOutput):
    images: torch.Tensor
"""

FOO_PIPELINE = """from transformers import CLIPTextModel

from ...models import FooTransformer2DModel
from ..pipeline_utils import DiffusionPipeline
from .pipeline_output import FooPipelineOutput


class FooPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->transformer"

    def __init__(self, text_encoder: CLIPTextModel, transformer: FooTransformer2DModel):
        super().__init__()
        self.register_modules(text_encoder=text_encoder, transformer=transformer)

    def __call__(self) -> FooPipelineOutput:
        raise NotImplementedError
"""


def write_foo(package_dir: Path) -> None:
    """Writes the files an agent would have written before registering: a model and a pipeline package."""
    (package_dir / "models" / "transformers" / "transformer_foo.py").write_text(FOO_MODEL)
    (package_dir / "pipelines" / "foo").mkdir(exist_ok=True)
    (package_dir / "pipelines" / "foo" / "pipeline_output.py").write_text(FOO_OUTPUT)
    (package_dir / "pipelines" / "foo" / "pipeline_foo.py").write_text(FOO_PIPELINE)


def foo_files() -> dict[str, str]:
    """The same files as package-relative texts, for in-memory trees."""
    return {
        "models/transformers/transformer_foo.py": FOO_MODEL,
        "pipelines/foo/pipeline_output.py": FOO_OUTPUT,
        "pipelines/foo/pipeline_foo.py": FOO_PIPELINE,
    }


# The smallest registration: one model class in one new module, as the MCP tools and the CLI receive it.
MODULE = "diffusers.models.transformers.transformer_foo"
FOO = {"symbols": [{"name": "FooTransformer2DModel", "module": MODULE}]}


def _add_model(workspace: Path) -> None:
    (workspace / "src/diffusers/models/transformers/transformer_foo.py").write_text(
        "import torch\n\n\nclass FooTransformer2DModel(torch.nn.Module):\n    pass\n"
    )
