"""Run a parity spec in this process: build, run and free the reference, then the candidate; compare; localise.

The child process (`parity.child`) calls this; tests and benchmarks may call `run_spec_in_process` directly.
Nothing here kills the caller on a bad spec: failures become a `ParityReport` with an `error`.
"""

from __future__ import annotations

import gc
import re
import resource
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from .checkpoint import Checkpoint, run_to_checkpoint
from .compare import compare_outputs, config_as_dict, default_tolerance, diff_configs, dtype_name
from .localize import ModuleTolerance, compare_candidate, record_reference
from .results import (
    ParityError,
    ParityReport,
    StageResult,
    StepDiff,
    TensorDiff,
    Tolerance,
)
from .spec import Spec, SpecError, accepts, call_with_context, load_spec


Progress = Callable[[int, int, str], None]
_STEP = re.compile(r"after_step_(\d+)")


@dataclass
class Outcome:
    """A report plus what only the report files need (the full module table)."""

    report: ParityReport
    rows: list[Any] = field(default_factory=list)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SpecError(
            "device 'cuda' was asked for but no CUDA device is visible here.", "Use device='cpu' or a GPU host."
        )
    return device


def resolve_dtype(spec: Spec, device: str, dtype: str | None) -> torch.dtype:
    name = dtype or spec.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    resolved = getattr(torch, name.removeprefix("torch."), None)
    if not isinstance(resolved, torch.dtype):
        raise SpecError(f"unknown dtype {name!r}.", "Use float32, bfloat16 or float16.")
    return resolved


def tolerance_from_spec(spec: Spec, dtype: torch.dtype) -> tuple[Tolerance, ModuleTolerance, bool]:
    base = default_tolerance(dtype)
    given = dict(spec.tolerances)
    output = Tolerance(
        max_abs=given.get("max_abs", base.max_abs),
        min_cosine=given.get("min_cosine", base.min_cosine),
        max_rel=given.get("max_rel", base.max_rel),
    )
    module = ModuleTolerance.for_dtype(dtype)
    if "module_max_rel" in given:
        module.max_rel = float(given["module_max_rel"])
    if "module_min_cosine" in given:
        module.min_cosine = given["module_min_cosine"]
    strict = given.get("module_check", "fail") != "warn"
    return output, module, strict


# --- moving things ----------------------------------------------------------------------------------------------


def _move(obj: Any, device: str, dtype: torch.dtype | None, keep: tuple[str, ...] = (), name: str = "") -> Any:
    if isinstance(obj, torch.Tensor):
        cast = dtype if (dtype is not None and obj.is_floating_point() and name not in keep) else None
        return obj.to(device=device, dtype=cast) if cast is not None else obj.to(device)
    if isinstance(obj, Mapping):
        return {k: _move(v, device, dtype, keep, k) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_move(v, device, dtype, keep, name) for v in obj)
    return obj


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu")
    if isinstance(obj, Mapping):
        items = {k: _to_cpu(v) for k, v in obj.items()}
        try:
            return type(obj)(**items) if hasattr(obj, "__dataclass_fields__") else type(obj)(items)
        except TypeError:
            return items
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _build(factory: Callable[..., Any], device: str, dtype: torch.dtype) -> Any:
    built = call_with_context(factory, device=device, dtype=dtype)
    if isinstance(built, torch.nn.Module):
        floating = {p.dtype for p in built.parameters() if p.is_floating_point()}
        if accepts(factory, "dtype") or floating <= {dtype}:
            built = built.to(device)
        else:
            built = built.to(device=device, dtype=dtype)
        built.eval()
    return built


def _invoke(fn: Any, inputs: Any, **extra: Any) -> Any:
    if isinstance(inputs, Mapping):
        return fn(**inputs, **extra)
    if isinstance(inputs, (tuple, list)):
        return fn(*inputs, **extra)
    return fn(inputs, **extra)


def _free(*_: Any) -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- component parity -----------------------------------------------------------------------------------------


def execute(
    spec: Spec,
    device: str = "cpu",
    dtype: str | None = None,
    localize: bool = True,
    progress: Progress | None = None,
    spill_dir: str | Path | None = None,
) -> Outcome:
    """Run one spec; every failure comes back as a report with `error` set.

    Localisation keeps the reference's activations in a temporary file in `spill_dir` (the report folder when
    run for a report; default: the system's temporary folder), never in memory."""
    started = time.perf_counter()
    notify = progress or (lambda done, total, message: None)
    report = ParityReport(status="error", spec=str(spec.path), device=device)
    try:
        device = resolve_device(device)
        run_dtype = resolve_dtype(spec, device, dtype)
        report.device, report.dtype = device, dtype_name(run_dtype)
        tolerance, module_tol, strict = tolerance_from_spec(spec, run_dtype)
        report.tolerance = tolerance
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            if run_dtype == torch.float32:
                # TF32 matmuls/convs differ from float32 by ~1e-3: parity in float32 means real float32.
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = False
        if spec.stages:
            outcome = _execute_stages(spec, report, device, run_dtype, tolerance, notify)
        else:
            outcome = _execute_component(
                spec, report, device, run_dtype, tolerance, module_tol, strict, localize, notify, spill_dir
            )
    except Exception as exc:  # noqa: BLE001 - a spec may raise anything; the report carries it
        report.error = _error_from(exc)
        report.status = "error"
        outcome = Outcome(report)
    report.timings.total_s = round(time.perf_counter() - started, 3)
    report.peak_rss_mb = round(_peak_rss_mb(), 1)
    if torch.cuda.is_available() and report.device.startswith("cuda"):
        report.peak_gpu_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return outcome


# How allocators say they could not get the memory asked for (torch's CPU allocator raises RuntimeError, not
# MemoryError): a memory error, not a bug in the spec.
_ALLOCATION_FAILED = ("can't allocate memory", "cannot allocate memory", "defaultcpuallocator: not enough memory")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def _allocation_failed(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and any(marker in str(exc).lower() for marker in _ALLOCATION_FAILED)


def _error_from(exc: BaseException) -> ParityError:
    tb = traceback.format_exc(limit=12)
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return ParityError(
            kind="cuda_oom",
            message=str(exc).splitlines()[0],
            fix="Use smaller inputs (fewer frames/tokens), fewer layers for component parity, or a larger GPU.",
            traceback=tb,
        )
    if isinstance(exc, MemoryError) or _allocation_failed(exc):
        return ParityError(
            kind="memory",
            message=f"the spec asked for more host memory than there is ({_first_line(exc)}).",
            fix="Use smaller inputs or fewer layers, build one model at a time inside reference()/candidate(), or "
            "run on a machine (or GPU) with more memory.",
            traceback=tb,
        )
    if isinstance(exc, SpecError):
        return ParityError(kind="spec", message=exc.problem, fix=exc.fix or "Fix the spec.", traceback=tb)
    return ParityError(
        kind="spec",
        message=f"{type(exc).__name__}: {exc}",
        fix="The spec raised: read the traceback (the last frames are in your spec or the code it calls) and fix it.",
        traceback=tb,
    )


def _execute_component(
    spec: Spec,
    report: ParityReport,
    device: str,
    dtype: torch.dtype,
    tolerance: Tolerance,
    module_tol: ModuleTolerance,
    strict: bool,
    localize: bool,
    notify: Progress,
    spill_dir: str | Path | None = None,
) -> Outcome:
    from .align import ModelIndex, align_modules
    from .diagnose import diagnose

    total = 5
    inputs = _move(call_with_context(spec.inputs, device=device, dtype=dtype), device, dtype, spec.keep_dtype)

    notify(0, total, "building the reference")
    t0 = time.perf_counter()
    with torch.no_grad():
        torch.manual_seed(0)
        ref = _build(spec.reference, device, dtype)
        ref_is_module = isinstance(ref, torch.nn.Module)
        ref_config = config_as_dict(ref) if isinstance(getattr(ref, "config", None), Mapping) else None
        ref_index = ModelIndex.from_model(ref) if (localize and ref_is_module) else None
        notify(1, total, "running the reference")
        torch.manual_seed(0)
        if ref_index is not None:
            ref_out, store = record_reference(ref, partial(_invoke, ref, inputs), spill_dir)
        else:
            ref_out, store = _invoke(ref, inputs), None
        ref_out = _to_cpu(ref_out)
        del ref
        _free()
    report.timings.reference_s = round(time.perf_counter() - t0, 3)

    notify(2, total, "building the candidate")
    t0 = time.perf_counter()
    run = None
    with torch.no_grad():
        torch.manual_seed(0)
        cand = _build(spec.candidate, device, dtype)
        cand_is_module = isinstance(cand, torch.nn.Module)
        cand_config = config_as_dict(cand) if isinstance(getattr(cand, "config", None), Mapping) else None
        notify(3, total, "running the candidate")
        torch.manual_seed(0)
        if store is not None and cand_is_module:
            alignment = align_modules(ref_index, ModelIndex.from_model(cand, resident=True), spec.weight_map)
            try:
                cand_out, run = compare_candidate(
                    cand, partial(_invoke, cand, inputs), alignment, store, ref_index, module_tol
                )
            finally:
                store.close()
        else:
            if store is not None:
                store.close()
            cand_out = _invoke(cand, inputs)
        cand_out = _to_cpu(cand_out)
        del cand
        _free()
    report.timings.candidate_s = round(time.perf_counter() - t0, 3)

    notify(4, total, "comparing")
    report.outputs = compare_outputs(ref_out, cand_out, tolerance)
    if spec.configs is not None:
        got = spec.configs()
        report.config = diff_configs(got[0], got[1], key_map=got[2] if len(got) > 2 else None)
    elif ref_config is not None and cand_config is not None:
        report.config = diff_configs(ref_config, cand_config)
    steps = _steps_from_outputs(report.outputs)
    if steps:
        report.stages.append(StageResult(name="outputs", passed=all(s.passed for s in steps), points=steps))

    rows: list[Any] = []
    if run is not None:
        try:
            report.localization = diagnose(run)
            rows = [r.diff for r in run.rows]
        except Exception as exc:  # noqa: BLE001 - the output comparison stands without the diagnosis
            report.notes.append(
                f"localisation failed (an internal error, please report it): {type(exc).__name__}: {exc}"
            )
        if run.errors and report.localization is not None:
            report.localization.alignment.anomalies.extend(f"instrumentation: {e}" for e in run.errors[:5])
    elif localize:
        why = "reference" if not ref_is_module else "candidate"
        report.notes.append(f"no localisation: the {why} is not an nn.Module (return the model, not a function)")

    outputs_ok = all(d.passed for d in report.outputs)
    modules_ok = report.localization is None or report.localization.first_divergence is None or not strict
    report.status = "passed" if outputs_ok and modules_ok else "failed"
    if outputs_ok and not modules_ok:
        report.notes.append(
            "outputs are within tolerance but a module diverges beyond float noise: at this test size the error is "
            "small, at the real size it will not be (set tolerances['module_check'] = 'warn' to only report it)"
        )
    notify(5, total, f"done: {report.status}")
    return Outcome(report, rows)


def _steps_from_outputs(diffs: list[TensorDiff]) -> list[StepDiff]:
    """Outputs named `...after_step_{i}...` form a per-step curve."""
    by_step: dict[int, list[TensorDiff]] = {}
    for d in diffs:
        m = _STEP.search(d.name)
        if m:
            by_step.setdefault(int(m.group(1)), []).append(d)
    return [
        StepDiff(point=f"after_step_{i}", step=i, tensors=ds, passed=all(x.passed for x in ds))
        for i, ds in sorted(by_step.items())
    ]


# --- stage tests ----------------------------------------------------------------------------------------------


def _execute_stages(
    spec: Spec, report: ParityReport, device: str, dtype: torch.dtype, tolerance: Tolerance, notify: Progress
) -> Outcome:
    """Each stage runs on both sides with checkpoints; the candidate gets the reference's values where asked.

    `stages = {"encode": {"preloop": {"stop": True}}, "denoise": {"preloop": {"inject": True},
    "after_step_*": {}, "after_step_1": {"stop": True}}, "decode": {"post_loop": {"inject": True}}}`:
    every listed point is saved on both sides and compared; `inject` loads the reference's values into the
    candidate at that point; `stop` ends the run there. The callables take a `checkpoints` keyword argument.
    """
    stages = {name: dict(points) for name, points in spec.stages.items()}  # type: ignore[union-attr]
    total = 2 + 2 * len(stages)
    inputs = _move(call_with_context(spec.inputs, device=device, dtype=dtype), device, None, spec.keep_dtype)
    ref_points: dict[str, dict[str, dict[str, Any]]] = {}
    ref_outputs: dict[str, Any] = {}
    ref_stopped: dict[str, str | None] = {}

    t0 = time.perf_counter()
    notify(0, total, "building the reference")
    with torch.no_grad():
        torch.manual_seed(0)
        ref = _build(spec.reference, device, dtype)
        _require_checkpoints(ref, "reference")
        for i, (stage, points) in enumerate(stages.items()):
            notify(1 + i, total, f"reference: stage {stage}")
            cps = {p: Checkpoint(save=True, stop=bool(s.get("stop"))) for p, s in points.items()}
            torch.manual_seed(0)
            out, stopped = run_to_checkpoint(partial(_invoke, ref, inputs, checkpoints=cps))
            ref_points[stage] = {name: cp.data for name, cp in cps.items() if cp.hits}
            ref_outputs[stage] = _to_cpu(out)
            ref_stopped[stage] = stopped
        del ref
        _free()
    report.timings.reference_s = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    notify(1 + len(stages), total, "building the candidate")
    with torch.no_grad():
        torch.manual_seed(0)
        cand = _build(spec.candidate, device, dtype)
        _require_checkpoints(cand, "candidate")
        for i, (stage, points) in enumerate(stages.items()):
            notify(2 + len(stages) + i, total, f"candidate: stage {stage}")
            cps: dict[str, Checkpoint] = {}
            injected: list[str] = []
            for pattern, settings in points.items():
                cps[pattern] = Checkpoint(save=True, stop=bool(settings.get("stop")))
                if settings.get("inject"):
                    for name, data in ref_points[stage].items():
                        if _matches(pattern, name):
                            stop = bool(settings.get("stop")) and name == pattern
                            cps[name] = Checkpoint(save=True, stop=stop or cps.get(name, Checkpoint()).stop, load=data)
                            injected.append(name)
            torch.manual_seed(0)
            out, stopped = run_to_checkpoint(partial(_invoke, cand, inputs, checkpoints=cps))
            cand_points = {name: cp.data for name, cp in cps.items() if cp.hits}
            report.stages.append(
                _compare_stage(
                    stage,
                    ref_points[stage],
                    cand_points,
                    ref_outputs[stage],
                    _to_cpu(out),
                    stopped or ref_stopped[stage],
                    injected,
                    tolerance,
                )
            )
        del cand
        _free()
    report.timings.candidate_s = round(time.perf_counter() - t0, 3)
    report.status = "passed" if all(s.passed for s in report.stages) else "failed"
    notify(total, total, f"done: {report.status}")
    return Outcome(report)


def _require_checkpoints(fn: Any, side: str) -> None:
    if not accepts(fn, "checkpoints"):
        raise SpecError(
            f"the {side} callable takes no `checkpoints` argument, so stage points cannot be set.",
            "Return a callable run(checkpoints=None, **inputs): checkpointed_pipeline(pipe) for a diffusers "
            "pipeline, or a function that calls checkpoint(checkpoints, name, ...) at each point.",
        )


def _matches(pattern: str, name: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)


def _compare_stage(
    stage: str,
    ref_points: dict[str, dict[str, Any]],
    cand_points: dict[str, dict[str, Any]],
    ref_out: Any,
    cand_out: Any,
    stopped: str | None,
    injected: list[str],
    tolerance: Tolerance,
) -> StageResult:
    steps: list[StepDiff] = []
    for name in _point_order(ref_points):
        if name not in cand_points:
            continue
        ref_data = {k: v for k, v in ref_points[name].items() if isinstance(v, torch.Tensor)}
        cand_data = {k: v for k, v in cand_points[name].items() if isinstance(v, torch.Tensor)}
        if not ref_data and not cand_data:
            continue
        diffs = compare_outputs(ref_data, cand_data, tolerance)
        for d in diffs:
            d.name = f"{name}.{d.name.removeprefix('output.')}"
            d.reference_name = None
        m = _STEP.fullmatch(name)
        steps.append(
            StepDiff(
                point=name, step=int(m.group(1)) if m else None, tensors=diffs, passed=all(d.passed for d in diffs)
            )
        )
    outputs: list[TensorDiff] = []
    if stopped is None and ref_out is not None and cand_out is not None:
        outputs = compare_outputs(ref_out, cand_out, tolerance)
    passed = all(s.passed for s in steps) and all(o.passed for o in outputs) and bool(steps or outputs)
    return StageResult(name=stage, passed=passed, stopped_at=stopped, injected=injected, points=steps, outputs=outputs)


def _point_order(points: Mapping[str, Any]) -> list[str]:
    def key(name: str) -> tuple[int, int, str]:
        if name == "preloop":
            return (0, 0, name)
        m = _STEP.fullmatch(name)
        if m:
            return (1, int(m.group(1)), name)
        if name == "post_loop":
            return (2, 0, name)
        return (3, 0, name)

    return sorted(points, key=key)


def run_spec_in_process(
    spec_path: str | Path,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    localize: bool = True,
    progress: Progress | None = None,
) -> ParityReport:
    """Load and run a spec here (no child process, no timeout); writes the report files when `out_dir` is set."""
    try:
        spec = load_spec(spec_path)
    except Exception as exc:  # noqa: BLE001 - an import error in the spec is the spec's problem
        outcome = Outcome(ParityReport(status="error", spec=str(spec_path), device=device, error=_error_from(exc)))
    else:
        outcome = execute(
            spec, device=device, dtype=dtype, localize=localize, progress=progress, spill_dir=_spill_dir(out_dir)
        )
    if out_dir is not None:
        from .report import write_report

        write_report(outcome, Path(out_dir))
    else:
        from .report import render_text

        outcome.report.summary = render_text(outcome.report)
    return outcome.report


def _spill_dir(out_dir: str | Path | None) -> Path | None:
    """The report folder (on the checkout's disk) for the activation spill file; None: the temporary folder."""
    if out_dir is None:
        return None
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
