"""Name derivation: one model name, every class, module and package name, consistent with upstream's."""

from __future__ import annotations

import pytest

from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.scaffold.names import derive_names, split_words


@pytest.mark.parametrize(
    ("model_name", "prefix", "snake"),
    [
        ("Foo", "Foo", "foo"),
        ("foo", "Foo", "foo"),
        ("my-model", "MyModel", "my_model"),
        ("MyModel", "MyModel", "my_model"),
        ("Hunyuan Video", "HunyuanVideo", "hunyuan_video"),
        ("LTXVideo", "LTXVideo", "ltx_video"),
        ("Cosmos3", "Cosmos3", "cosmos3"),
        ("wan2.5", "Wan25", "wan2_5"),
        ("MiniMax H3", "MiniMaxH3", "mini_max_h3"),
        ("TinyDiT", "TinyDiT", "tiny_dit"),
        ("ViTGen", "ViTGen", "vit_gen"),
    ],
)
def test_prefix_and_module_stem(model_name: str, prefix: str, snake: str) -> None:
    names = derive_names(model_name)
    assert (names.prefix, names.snake) == (prefix, snake)
    assert names.modular_model_name == snake.replace("_", "-")


def test_every_name_of_a_video_integration() -> None:
    names = derive_names(
        "Foo",
        dims="3d",
        tasks=["image2video", "text2video"],
        pipeline="both",
        components=["transformer", "autoencoder"],
        custom_scheduler=True,
        lora=True,
    )
    assert names.transformer == "FooTransformer3DModel" and names.transformer_module == "transformer_foo"
    assert names.autoencoder == "AutoencoderKLFoo" and names.autoencoder_module == "autoencoder_kl_foo"
    assert (names.scheduler, names.scheduler_module) == ("FooScheduler", "scheduling_foo")
    # Tasks come back in a stable order: the text-conditioned workflow first.
    assert [(p.task, p.class_name, p.module) for p in names.pipelines] == [
        ("text2video", "FooPipeline", "pipeline_foo"),
        ("image2video", "FooImageToVideoPipeline", "pipeline_foo_image2video"),
    ]
    assert names.pipeline_output == "FooPipelineOutput"
    assert (names.modular_pipeline, names.modular_blocks, names.modular_blocks_module) == (
        "FooModularPipeline",
        "FooAutoBlocks",
        "modular_blocks_foo",
    )
    assert names.lora_mixin == "FooLoraLoaderMixin"
    assert names.conversion_script == "scripts/convert_foo_to_diffusers.py"
    assert len(names.public_classes()) == len(set(names.public_classes())) == 9


def test_image_defaults_and_img2img_name() -> None:
    names = derive_names("Foo", pipeline="standard", tasks=["image2image", "text2image"])
    assert names.transformer == "FooTransformer2DModel"
    assert [p.class_name for p in names.pipelines] == ["FooPipeline", "FooImg2ImgPipeline"]
    assert names.modular_pipeline is None
    assert [p.class_name for p in derive_names("Foo", pipeline="standard").pipelines] == ["FooPipeline"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_name": "3D-thing"}, "must start with a letter"),
        ({"model_name": "!!!"}, "must start with a letter"),
        ({"model_name": "class"}, "not a usable module name"),
        (
            {"model_name": "Foo", "dims": "2d", "tasks": ["text2video"]},
            "For dims=2d choose from: text2image, image2image",
        ),
        ({"model_name": "Foo", "components": ["autoencoder"]}, 'pass `pipeline="none"`'),
        ({"model_name": "Foo", "components": ["autoencoder"], "pipeline": "none", "lora": True}, "LoRA"),
    ],
)
def test_refusals_name_the_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(IntegratorError) as caught:
        derive_names(**kwargs)
    assert message in str(caught.value)


def test_split_words_keeps_acronyms_and_digits() -> None:
    assert split_words("QwenImage-Edit 2") == ["Qwen", "Image", "Edit", "2"]
    assert split_words("HiDream") == ["Hi", "Dream"]
