"""What the agent must fill in after `scaffold`, each item pointing at the skill section that explains it.

Anchors are GitHub-style slugs of the skill headings; `skill_ref` checks them against the shipped skills so
that a renamed heading degrades to a link to the file instead of a dead anchor.
"""

from __future__ import annotations

import re
from functools import cache

from ..data import data_dir
from ..errors import IntegratorError
from .names import ScaffoldNames
from .schema import ChecklistItem


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def _headings(skill_file: str) -> frozenset[str] | None:
    try:
        path = data_dir("skills") / skill_file
    except IntegratorError:
        return None
    if not path.is_file():
        return None
    return frozenset(slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", path.read_text(), re.M))


def skill_ref(skill_file: str, heading: str | None = None) -> str:
    """`skill/file.md#anchor` when the heading exists in the shipped skills, else `skill/file.md`."""
    if heading is None:
        return skill_file
    anchors = _headings(skill_file)
    anchor = slug(heading)
    return f"{skill_file}#{anchor}" if anchors is None or anchor in anchors else skill_file


def build_checklist(
    names: ScaffoldNames,
    files: dict[str, str],
    *,
    tasks: list[str],
    custom_scheduler: bool,
    lora: bool,
    lora_registered: bool = True,
) -> list[ChecklistItem]:
    """`files` maps a role (`transformer`, `pipelines`, `modular`, ...) to a path or a space-separated list."""

    def paths(*roles: str) -> list[str]:
        return [path for role in roles for path in files.get(role, "").split() if path]

    items: list[ChecklistItem] = []

    def add(task: str, skill_file: str, heading: str | None, *roles: str) -> None:
        items.append(ChecklistItem(task=task, files=paths(*roles), skill=skill_ref(skill_file, heading)))

    if names.transformer:
        add(
            f"Port the reference blocks into `{names.transformer_block}` and `{names.transformer}.forward` "
            "(patch embedding, timestep and text conditioning, block order, output norm); restructure only, "
            "keep the math.",
            "integrating-models/model.md",
            "Restructure, never change the math",
            "transformer",
        )
        add(
            f"Match the reference attention in `{names.attention_processor}`: projections, q/k norms, rotary "
            "layout and positions, masks; keep `dispatch_attention_fn`.",
            "integrating-models/attention.md",
            "Details that decide parity",
            "transformer",
        )
        add(
            f"Set the `__init__` defaults of `{names.transformer}` to the released checkpoint's config, and check "
            "`_no_split_modules`, `_skip_layerwise_casting_patterns`, `_repeated_blocks` against the final code.",
            "integrating-models/gotchas.md",
            "Code defaults are not checkpoint values",
            "transformer",
        )
    if names.autoencoder:
        add(
            f"Port the reference VAE into `{names.autoencoder}` (blocks, latent normalisation, compression "
            "factors) and set its config defaults from the checkpoint.",
            "integrating-models/model.md",
            "The class",
            "autoencoder",
        )
    add(
        "Fill the key map of the conversion script from the original checkpoint's keys (inspect_checkpoint), "
        "then check the fused-QKV split order and the shift/scale order it marks.",
        "integrating-models/conversion.md",
        "2. Write the key map",
        "conversion",
    )
    add(
        "Prove component parity on CPU in float32 before touching the pipeline, with the candidate built through "
        "the shipped script's key map (`diffusers_integrator.parity.conversion_script.model_from_script`), so the "
        "conversion parity checks is the one that ships.",
        "parity-testing/SKILL.md",
        "The ladder",
        "transformer",
    )
    if names.pipelines or names.modular_pipeline:
        add(
            "Replace the placeholder text encoder (T5EncoderModel + AutoTokenizer) with the reference's, including "
            "its prompt template, hidden-state layer and max sequence length.",
            "integrating-models/pipeline.md",
            "The class",
            "pipelines",
            "modular_encoders",
        )
        add(
            "Check the sampling loop against the reference: sigma schedule and shift, timestep scale and dtype fed "
            "to the transformer, guidance formula, latent normalisation before decode.",
            "integrating-models/pipeline.md",
            "Guidance",
            "pipelines",
            "modular_loop",
        )
    if any(task in ("image2image", "image2video") for task in tasks):
        scheme = (
            "image latents noised to the `strength` timestep"
            if "image2image" in tasks
            else "the encoded image kept as the clean first latent frame"
        )
        add(
            f"Replace the scaffold's image conditioning ({scheme}) with the reference's scheme.",
            "integrating-models/pipeline.md",
            "`__call__`",
            "pipelines",
            "modular_encoders",
            "modular_loop",
        )
    if custom_scheduler:
        add(
            f"Make `{names.scheduler}` reproduce the reference sampler exactly, or drop it for an existing scheduler.",
            "integrating-models/pipeline.md",
            "Schedulers",
            "scheduler",
        )
    if names.modular_pipeline:
        add(
            "Keep the modular blocks equivalent to the standard pipeline step by step; configure guidance through "
            "the guider component.",
            "modular-conversion/denoise.md",
            "The guider",
            "modular",
            "modular_loop",
        )
    if lora:
        add(
            f"Convert non-diffusers LoRA formats in `{names.lora_mixin}.lora_state_dict` if the model's community "
            "LoRAs use another layout; run `make fix-copies` after any change to the copied methods.",
            "integrating-models/pipeline.md",
            "LoRA",
            "lora",
        )
    if lora and not lora_registered:
        add(
            f"Register `{names.lora_mixin}` in loaders/__init__.py: this checkout's loaders init has no "
            "torch+transformers block for `lora_pipeline` mixins, so add it (both halves), register the mixin with "
            "register_lazy_import (export=false), then import it from `...loaders`.",
            "integrating-models/registration.md",
            "`register_lazy_import`",
            "lora",
        )
    add(
        "Set `pretrained_model_name_or_path` in the model tests and add expected output slices once parity is "
        "proven; keep the fast tests on the tiny components.",
        "integrating-models/testing.md",
        "Model tests",
        "tests",
    )
    if files.get("docs"):
        add(
            "Replace the TODO prose of the docs pages (what the model is, paper and checkpoints).",
            "integrating-models/docs.md",
            "Pages",
            "docs",
        )
    add(
        "Run check_registration and make_quality before handing over.",
        "integrating-models/quality.md",
        "When to call it",
    )
    return items
