"""The pydantic input and result of the `scaffold` tool (what MCP and the CLI expose)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..checkout import FileChange
from .names import ScaffoldNames


Task = Literal["text2image", "image2image", "text2video", "image2video"]


class ScaffoldRequest(BaseModel):
    """What to scaffold."""

    model_name: str = Field(
        min_length=1,
        max_length=64,
        description="The model's name as people write it (`Foo`, `MyModel`, `my-model`); every class, module and "
        "file name derives from it (`FooTransformer2DModel`, `transformer_foo.py`, package `foo`).",
    )
    component: list[Literal["transformer", "autoencoder"]] = Field(
        default_factory=lambda: ["transformer"],
        min_length=1,
        description="The new model components: `transformer` (a DiT with the attention processor pattern) and/or "
        "`autoencoder` (a KL VAE the pipelines then use instead of an existing one).",
    )
    dims: Literal["2d", "3d"] = Field(default="2d", description="`2d` for images, `3d` for videos.")
    tasks: list[Task] | None = Field(
        default=None,
        description="Workflows, one standard pipeline each: `text2image`/`image2image` (2d) or "
        "`text2video`/`image2video` (3d). Default: the text-conditioned one.",
    )
    pipeline: Literal["modular", "standard", "both", "none"] = Field(
        default="modular",
        description="`modular` (upstream's default for new models), `standard` (DiffusionPipeline subclasses), "
        "`both`, or `none` for the model alone.",
    )
    custom_scheduler: bool = Field(
        default=False,
        description="Scaffold a scheduler of the model's own; by default the pipelines reuse "
        "FlowMatchEulerDiscreteScheduler (prefer that unless the reference sampler differs).",
    )
    lora: bool = Field(
        default=False,
        description="Add LoRA support: PeftAdapterMixin on the transformer and a `<Model>LoraLoaderMixin` in "
        "loaders/lora_pipeline.py.",
    )
    dry_run: bool = Field(
        default=False, description="Return the derived names and every diff without writing anything."
    )


class ScaffoldedFile(BaseModel):
    """One file the scaffold created or edited."""

    path: str = Field(description="Relative to the checkout root.")
    purpose: str
    action: Literal["created", "modified", "unchanged"]


class ChecklistItem(BaseModel):
    """Something the agent must now fill in, and where the skill explains it."""

    task: str
    files: list[str] = Field(default_factory=list, description="Files where the work happens.")
    skill: str = Field(
        description="Skill file (and section) that explains it, e.g. `integrating-models/attention.md`."
    )


class ScaffoldResult(BaseModel):
    """The answer of `scaffold`."""

    dry_run: bool = Field(description="True when nothing was written (the diffs show what would be).")
    names: ScaffoldNames = Field(description="Every derived name (shown before writing under dry_run).")
    files: list[ScaffoldedFile] = Field(default_factory=list, description="Files created or edited, with purpose.")
    registered: list[str] = Field(default_factory=list, description="Public names registered (or to register).")
    registration_summary: str = Field(default="", description="What the registry did (or would do).")
    skipped: list[str] = Field(default_factory=list, description="What was not generated, and why.")
    checklist: list[ChecklistItem] = Field(
        default_factory=list, description="What to fill in now, each item with the skill section that explains it."
    )
    changes: list[FileChange] = Field(default_factory=list, description="Per-file unified diffs.")
    diff_file: str | None = Field(
        default=None,
        description="When the diffs are too long to return, the file (under .diffusers-integrator/) holding them.",
    )
    summary: str = Field(default="", description="One line: what was created, edited and registered.")
