"""Checkpoints: capture, stop, injection, and the wiring into a standard diffusers pipeline."""

import subprocess
import sys

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from diffusers_integrator.parity import (
    Checkpoint,
    CheckpointStop,
    checkpoint,
    checkpointed_pipeline,
    run_to_checkpoint,
)
from diffusers_integrator.testing.diffusers_dit import TinyDiTTransformer2DModel
from diffusers_integrator.testing.dit_pipeline import TinyDiTPipeline


def _pipeline() -> TinyDiTPipeline:
    torch.manual_seed(0)
    pipe = TinyDiTPipeline(TinyDiTTransformer2DModel(num_layers=1), FlowMatchEulerDiscreteScheduler())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _call(run, checkpoints=None, steps=3):
    embeds = torch.randn(1, 5, 32, generator=torch.Generator().manual_seed(1))
    return run(
        checkpoints, prompt_embeds=embeds, generator=torch.Generator().manual_seed(0), num_inference_steps=steps
    )


def test_importing_checkpoint_does_not_import_torch():
    code = (
        "import sys; from diffusers_integrator.parity import Checkpoint, checkpoint, ParityReport; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_point_without_checkpoints_is_a_no_op():
    x = torch.ones(2)
    assert checkpoint(None, "preloop", latents=x)["latents"] is x
    assert checkpoint({"other": Checkpoint(save=True)}, "preloop", latents=x)["latents"] is x


def test_save_load_stop_and_glob():
    points = {
        "preloop": Checkpoint(save=True, load={"latents": torch.zeros(2)}),
        "after_step_*": Checkpoint(save=True),
    }
    state = checkpoint(points, "preloop", latents=torch.ones(2))
    assert torch.equal(points["preloop"].data["latents"], torch.ones(2))  # saved as it arrived
    assert torch.equal(state["latents"], torch.zeros(2))  # then injected
    checkpoint(points, "after_step_3", latents=torch.full((2,), 3.0))
    assert points["after_step_3"].data["latents"][0] == 3.0
    points["post_loop"] = Checkpoint(save=True, stop=True)
    out, stopped = run_to_checkpoint(lambda: checkpoint(points, "post_loop", latents=torch.ones(1)))
    assert out is None and stopped == "post_loop"


def test_diffusers_pipeline_points_without_edits():
    run = checkpointed_pipeline(_pipeline(), rename={"hidden_states": "latents"})
    points = {
        "preloop": Checkpoint(save=True),
        "after_step_*": Checkpoint(save=True),
        "post_loop": Checkpoint(save=True),
    }
    final = _call(run, points).latents
    assert set(points) >= {"preloop", "after_step_0", "after_step_1", "after_step_2", "post_loop"}
    pre = points["preloop"].data
    assert set(pre) >= {"latents", "timestep", "encoder_hidden_states"}
    assert torch.equal(points["post_loop"].data["latents"], final)
    assert torch.equal(points["after_step_2"].data["latents"], final)


def test_stop_after_a_step_and_inject_preloop_latents():
    run = checkpointed_pipeline(_pipeline(), rename={"hidden_states": "latents"})
    stopped_points = {"after_step_0": Checkpoint(save=True, stop=True)}
    out, stopped = run_to_checkpoint(_call, run, stopped_points)
    assert out is None and stopped == "after_step_0"

    plain = _call(run, {"preloop": Checkpoint(save=True)})
    injected_latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(7))
    points = {"preloop": Checkpoint(save=True, load={"latents": injected_latents})}
    injected = _call(run, points).latents
    # The pipeline's own loop starts from the injected latents (passed as its `latents` argument).
    assert not torch.allclose(plain.latents, injected)
    assert torch.equal(points["preloop"].data["latents"], injected_latents)


def test_step_injection_replaces_the_loop_state():
    run = checkpointed_pipeline(_pipeline())
    zeros = torch.zeros(1, 4, 8, 8)
    out = _call(run, {"after_step_2": Checkpoint(load={"latents": zeros})}).latents
    assert torch.equal(out, zeros)


def test_stop_exception_names_the_point():
    try:
        checkpoint({"x": Checkpoint(stop=True)}, "x")
    except CheckpointStop as stop:
        assert stop.point == "x"
    else:
        raise AssertionError("no stop")
