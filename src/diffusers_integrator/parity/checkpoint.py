"""Named checkpoints inside a pipeline run: capture tensors, stop early, inject the reference's tensors.

A stage test compares two pipelines piece by piece: stop both at `preloop` and compare what the loop will
consume; stop after a couple of denoising steps (`after_step_{i}`); feed the reference's `post_loop` latents into
the candidate's decode. Two ways to put the points into a pipeline, neither touching diffusers internals:

* A pipeline you own (the reference, or a pipeline in the spec) calls `checkpoint(checkpoints, name, **tensors)`
  at each point and uses the values it returns (they are the injected ones when the point has `load`).
* A standard diffusers pipeline is driven through its public hooks: `on_step_end(checkpoints)` is a
  `callback_on_step_end` (the pipeline adopts the tensors it returns, which is how injection works), and
  `capture_preloop(checkpoints, pipe.transformer)` is a torch forward pre-hook on the denoiser that sees, at its
  first call, every tensor the loop consumes. `checkpointed_pipeline(pipe)` wires both.

This module imports torch only when a tensor must be copied.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


PRELOOP = "preloop"
POST_LOOP = "post_loop"


def after_step(index: int) -> str:
    return f"after_step_{index}"


class CheckpointStop(Exception):
    """Raised at a point whose checkpoint has `stop=True`: the run ends there on purpose, not by failure."""

    def __init__(self, point: str):
        self.point = point
        super().__init__(f"stopped at checkpoint {point!r}")


@dataclass
class Checkpoint:
    """What to do at one named point.

    Args:
        save: capture the point's values as they arrive, before any injection (tensors are detached and copied
            to CPU), into `data`.
        stop: raise `CheckpointStop` once the point is reached (after saving), ending the run.
        load: values to inject at the point, by name (e.g. the reference's captured `data`); tensors are moved
            to the device of the value they replace and keep their own dtype, so an injected fp32 tensor stays fp32.
    """

    save: bool = False
    stop: bool = False
    load: Mapping[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    hits: int = 0


Checkpoints = MutableMapping[str, Checkpoint]


def resolve(checkpoints: Checkpoints | None, name: str) -> Checkpoint | None:
    """The checkpoint for `name`: an exact key, else a glob key such as `after_step_*` (cloned under `name`)."""
    if not checkpoints:
        return None
    found = checkpoints.get(name)
    if found is not None:
        return found
    for pattern, template in list(checkpoints.items()):
        if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(name, pattern):
            clone = Checkpoint(save=template.save, stop=template.stop, load=None)
            checkpoints[name] = clone
            return clone
    return None


def checkpoint(checkpoints: Checkpoints | None, name: str, **values: Any) -> dict[str, Any]:
    """Mark the point `name` in a running pipeline and return `values`, with injected ones replaced.

    ```python
    state = checkpoint(checkpoints, "preloop", latents=latents, prompt_embeds=prompt_embeds)
    latents, prompt_embeds = state["latents"], state["prompt_embeds"]
    ```
    Without checkpoints (None or no entry for `name`) this returns `values` unchanged, so the call can stay in a
    pipeline that normally runs without them.
    """
    point = resolve(checkpoints, name)
    if point is None:
        return values
    point.hits += 1
    # Save what this side computed before anything is injected: with injection at every step, the saved
    # values are the one-step results the comparison needs.
    if point.save:
        point.data = {key: _capture(value) for key, value in values.items()}
    out = dict(values)
    if point.load:
        for key, injected in point.load.items():
            out[key] = _like(injected, values.get(key))
    if point.stop:
        raise CheckpointStop(name)
    return out


def _capture(value: Any) -> Any:
    if _is_tensor(value):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, (list, tuple)):
        return type(value)(_capture(v) for v in value) if not hasattr(value, "_fields") else value
    if isinstance(value, dict):
        return {k: _capture(v) for k, v in value.items()}
    return value


def _like(injected: Any, current: Any) -> Any:
    if _is_tensor(injected) and _is_tensor(current):
        return injected.to(current.device)
    if isinstance(injected, (list, tuple)) and isinstance(current, (list, tuple)) and len(injected) == len(current):
        return type(injected)(_like(a, b) for a, b in zip(injected, current))
    return injected


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach") and hasattr(value, "device")


# --- adapters for standard diffusers pipelines ------------------------------------------------------------------


def on_step_end(checkpoints: Checkpoints | None, then: Callable | None = None) -> Callable:
    """A `callback_on_step_end` that fires `after_step_{i}` (and `post_loop` on the last step).

    diffusers passes the tensors named in `callback_on_step_end_tensor_inputs` and adopts those the callback
    returns, so a `load` at `after_step_{i}` or `post_loop` injects them into the pipeline's own loop. `then` chains
    an existing callback.
    """

    def callback(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        state = checkpoint(checkpoints, after_step(step), **callback_kwargs)
        total = getattr(pipe, "num_timesteps", None)
        if isinstance(total, int) and step == total - 1:
            state = checkpoint(checkpoints, POST_LOOP, **state)
        if then is not None:
            state = then(pipe, step, timestep, state) or state
        return state

    return callback


@contextmanager
def capture_preloop(
    checkpoints: Checkpoints | None,
    denoiser: Any,
    name: str = PRELOOP,
    rename: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Fire `name` at the denoiser's first forward call, with every argument it receives, by keyword.

    Positional arguments are named after the forward signature, then renamed with `rename` (e.g.
    `{"hidden_states": "latents"}` to line up with the reference's names). Injected values replace the call's
    arguments; `stop` aborts before the first denoising step runs. Uses `register_forward_pre_hook`, a public
    torch API.
    """
    if resolve(checkpoints, name) is None:
        yield
        return
    try:
        parameters = list(inspect.signature(denoiser.forward).parameters)
    except (TypeError, ValueError):
        parameters = []
    rename = dict(rename or {})
    back = {v: k for k, v in rename.items()}
    fired = False

    def arg_name(i: int) -> str:
        return parameters[i] if i < len(parameters) else f"arg{i}"

    def hook(module: Any, args: tuple, kwargs: dict[str, Any]):
        nonlocal fired
        if fired:
            return None
        fired = True
        named = {arg_name(i): a for i, a in enumerate(args)}
        named.update(kwargs)
        state = checkpoint(checkpoints, name, **{rename.get(k, k): v for k, v in named.items()})
        state = {back.get(k, k): v for k, v in state.items()}
        new_args = tuple(state[arg_name(i)] for i in range(len(args)))
        new_kwargs = {k: state[k] for k in kwargs}
        return new_args, new_kwargs

    handle = denoiser.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def checkpointed_pipeline(
    pipe: Any,
    denoiser: str | None = None,
    tensor_inputs: tuple[str, ...] = ("latents",),
    rename: Mapping[str, str] | None = None,
):
    """Wrap a diffusers pipeline as `run(checkpoints=None, **call_kwargs)` with all points wired.

    `denoiser` names the component whose first call is `preloop` (default: `transformer`, else `unet`); its
    arguments are captured under their own names, renamed by `rename` (`{"hidden_states": "latents"}` when the
    denoiser receives the latents unchanged). A `preloop` load whose key is an argument of the pipeline's
    `__call__` (`latents`, `prompt_embeds`, ...) is passed as that argument, so the loop itself starts from it.
    """
    if denoiser is None:
        denoiser = next((n for n in ("transformer", "unet", "prior", "decoder") if hasattr(pipe, n)), None)
    model = getattr(pipe, denoiser) if denoiser else None
    try:
        call_params = set(inspect.signature(pipe.__call__).parameters)
    except (TypeError, ValueError):
        call_params = set()

    def run(checkpoints: Checkpoints | None = None, **kwargs: Any) -> Any:
        if checkpoints:
            kwargs["callback_on_step_end"] = on_step_end(checkpoints, kwargs.get("callback_on_step_end"))
            kwargs["callback_on_step_end_tensor_inputs"] = list(
                kwargs.get("callback_on_step_end_tensor_inputs") or tensor_inputs
            )
            pre = resolve(checkpoints, PRELOOP)
            if pre is not None and pre.load:
                kwargs.update({k: v for k, v in pre.load.items() if k in call_params})
        if model is None or not checkpoints:
            return pipe(**kwargs)
        with capture_preloop(checkpoints, model, rename=rename):
            return pipe(**kwargs)

    run.pipeline = pipe  # type: ignore[attr-defined]
    return run


def run_to_checkpoint(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """Call `fn`; a `CheckpointStop` ends it quietly. Returns (output or None, the point it stopped at or None)."""
    try:
        return fn(*args, **kwargs), None
    except CheckpointStop as stop:
        return None, stop.point
