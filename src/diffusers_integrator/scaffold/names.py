"""Every name a new integration introduces, derived once from the model name.

An agent that names files and classes by hand drifts (`FooTransformer2D` here, `transformer_Foo.py` there,
`FooI2VPipeline` in a test). Deriving all of them from one place, and showing them before anything is written,
keeps the integration consistent with itself and with diffusers' own naming.
"""

from __future__ import annotations

import keyword
import re
from typing import Literal

from pydantic import BaseModel, Field

from ..errors import IntegratorError


Dims = Literal["2d", "3d"]
Task = Literal["text2image", "image2image", "text2video", "image2video"]
PipelineKind = Literal["standard", "modular", "both", "none"]
Component = Literal["transformer", "autoencoder"]

# Which tasks a model of each dimensionality can serve; the first is the unconditioned default.
TASKS_BY_DIMS: dict[str, tuple[str, ...]] = {
    "2d": ("text2image", "image2image"),
    "3d": ("text2video", "image2video"),
}
# Tasks conditioned on an input image (they need the VAE encoder).
IMAGE_CONDITIONED: frozenset[str] = frozenset({"image2image", "image2video"})

# Mixed-case acronyms (`DiT`, `ViT`, `LoRA`) stay one word: `TinyDiT` -> tiny_dit, not tiny_di_t.
_WORD = re.compile(r"[A-Z][a-z][A-Z]+\d*(?![a-z])|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+")


class PipelineNames(BaseModel):
    """The standard pipeline of one task."""

    task: str
    class_name: str = Field(description="e.g. `FooPipeline`, `FooImg2ImgPipeline`, `FooImageToVideoPipeline`.")
    module: str = Field(description="Module inside the pipeline package, e.g. `pipeline_foo_img2img`.")
    test_module: str = Field(description="Test module under tests/pipelines/<package>/.")


class ScaffoldNames(BaseModel):
    """Every public and file name of one integration (shown before anything is written)."""

    display_name: str = Field(description="The name as people write it in prose and docs titles.")
    prefix: str = Field(description="CamelCase prefix of every class, e.g. `Foo`.")
    snake: str = Field(description="Module and package stem, e.g. `foo` or `my_model`.")
    modular_model_name: str = Field(description="`model_name` of the modular blocks, e.g. `my-model`.")
    dims: Dims
    transformer: str | None = Field(default=None, description="e.g. `FooTransformer2DModel`.")
    transformer_module: str | None = Field(default=None, description="e.g. `transformer_foo`.")
    autoencoder: str | None = Field(default=None, description="e.g. `AutoencoderKLFoo`.")
    autoencoder_module: str | None = None
    attention_processor: str
    attention: str
    transformer_block: str
    rotary_embedding: str
    scheduler: str | None = Field(default=None, description="e.g. `FooScheduler` (only with a custom scheduler).")
    scheduler_module: str | None = None
    scheduler_output: str | None = None
    pipelines: list[PipelineNames] = Field(default_factory=list)
    pipeline_output: str | None = Field(default=None, description="The output dataclass, e.g. `FooPipelineOutput`.")
    pipeline_package: str | None = Field(default=None, description="`pipelines/<package>/`.")
    modular_pipeline: str | None = Field(default=None, description="e.g. `FooModularPipeline`.")
    modular_blocks: str | None = Field(default=None, description="e.g. `FooAutoBlocks`.")
    modular_blocks_module: str | None = Field(default=None, description="e.g. `modular_blocks_foo`.")
    modular_package: str | None = Field(default=None, description="`modular_pipelines/<package>/`.")
    lora_mixin: str | None = Field(default=None, description="e.g. `FooLoraLoaderMixin`.")
    conversion_script: str = Field(description="e.g. `scripts/convert_foo_to_diffusers.py`.")

    def public_classes(self) -> list[str]:
        """Every class name the integration adds to diffusers' namespace (what collisions are checked against)."""
        names = [
            self.transformer,
            self.autoencoder,
            self.scheduler,
            self.pipeline_output,
            self.modular_pipeline,
            self.modular_blocks,
            self.lora_mixin,
            *(p.class_name for p in self.pipelines),
        ]
        return [name for name in names if name]


def split_words(model_name: str) -> list[str]:
    """Splits `my-model`, `MyModel`, `LTXVideo2` or `Hunyuan Video` into words, keeping their case."""
    words: list[str] = []
    for chunk in re.split(r"[^A-Za-z0-9]+", model_name):
        words.extend(_WORD.findall(chunk))
    return words


def derive_names(
    model_name: str,
    *,
    dims: Dims = "2d",
    tasks: list[str] | None = None,
    pipeline: PipelineKind = "standard",
    components: list[str] | None = None,
    custom_scheduler: bool = False,
    lora: bool = False,
) -> ScaffoldNames:
    """Derives every name, or raises an `IntegratorError` that says how to fix the request."""
    words = split_words(model_name)
    if not words or not words[0][0].isalpha():
        raise IntegratorError(
            f"Cannot derive class names from {model_name!r}: it must start with a letter.",
            "Pass the model's name as people write it, e.g. `Foo`, `MyModel` or `my-model`.",
        )
    prefix = "".join(word[0].upper() + word[1:] for word in words)
    snake = "_".join(word.lower() for word in words)
    if keyword.iskeyword(snake) or not snake.isidentifier():
        raise IntegratorError(f"{snake!r} is not a usable module name.", "Choose another model name.")
    tasks = validate_tasks(dims, tasks)
    components = list(dict.fromkeys(components or ["transformer"]))
    if pipeline != "none" and "transformer" not in components:
        raise IntegratorError(
            "A pipeline needs the new transformer, but `component` does not include `transformer`.",
            'Add "transformer" to `component`, or pass `pipeline="none"` to scaffold the autoencoder alone.',
        )
    if lora and "transformer" not in components:
        raise IntegratorError("LoRA support targets the transformer.", 'Add "transformer" to `component`.')

    suffix = "2DModel" if dims == "2d" else "3DModel"
    names = ScaffoldNames(
        display_name=" ".join(words) if re.search(r"[^A-Za-z0-9]", model_name) else model_name,
        prefix=prefix,
        snake=snake,
        modular_model_name=snake.replace("_", "-"),
        dims=dims,
        attention_processor=f"{prefix}AttnProcessor",
        attention=f"{prefix}Attention",
        transformer_block=f"{prefix}TransformerBlock",
        rotary_embedding=f"{prefix}RotaryPosEmbed",
        conversion_script=f"scripts/convert_{snake}_to_diffusers.py",
    )
    if "transformer" in components:
        names.transformer = f"{prefix}Transformer{suffix}"
        names.transformer_module = f"transformer_{snake}"
    if "autoencoder" in components:
        names.autoencoder = f"AutoencoderKL{prefix}"
        names.autoencoder_module = f"autoencoder_kl_{snake}"
    if custom_scheduler:
        names.scheduler = f"{prefix}Scheduler"
        names.scheduler_module = f"scheduling_{snake}"
        names.scheduler_output = f"{prefix}SchedulerOutput"
    if pipeline in ("standard", "both"):
        names.pipeline_package = snake
        names.pipeline_output = f"{prefix}PipelineOutput"
        names.pipelines = [_pipeline_names(prefix, snake, task) for task in tasks]
    if pipeline in ("modular", "both"):
        names.modular_package = snake
        names.modular_pipeline = f"{prefix}ModularPipeline"
        names.modular_blocks = f"{prefix}AutoBlocks"
        names.modular_blocks_module = f"modular_blocks_{snake}"
    if lora:
        names.lora_mixin = f"{prefix}LoraLoaderMixin"
    return names


def validate_tasks(dims: str, tasks: list[str] | None) -> list[str]:
    """The tasks in a stable order (unconditioned first), or an error naming the tasks `dims` allows."""
    allowed = TASKS_BY_DIMS[dims]
    tasks = list(dict.fromkeys(tasks or [allowed[0]]))
    wrong = [task for task in tasks if task not in allowed]
    if wrong:
        raise IntegratorError(
            f"Task(s) {', '.join(wrong)} do not fit a {dims} model.",
            f"For dims={dims} choose from: {', '.join(allowed)}.",
        )
    return [task for task in allowed if task in tasks]


def _pipeline_names(prefix: str, snake: str, task: str) -> PipelineNames:
    # Upstream's names: FluxPipeline / FluxImg2ImgPipeline, WanPipeline / WanImageToVideoPipeline.
    suffix, module_suffix = {
        "text2image": ("", ""),
        "text2video": ("", ""),
        "image2image": ("Img2Img", "_img2img"),
        "image2video": ("ImageToVideo", "_image2video"),
    }[task]
    return PipelineNames(
        task=task,
        class_name=f"{prefix}{suffix}Pipeline",
        module=f"pipeline_{snake}{module_suffix}",
        test_module=f"test_{snake}{module_suffix}",
    )
