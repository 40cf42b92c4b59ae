"""Tensor, output, config and state-dict comparison.

One number ("max diff 0.3") says little; each comparison here carries max/mean abs, a relative max, the cosine
and a verdict in words, with tolerances that follow the dtype actually compared.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from .results import (
    ConfigDiff,
    ConfigValueDiff,
    ShapeMismatch,
    StateDictDiff,
    TensorDiff,
    Tolerance,
    ValueMismatch,
)


_LOW_PRECISION = {torch.bfloat16, torch.float16}
_CONFIG_NOISE = ("_class_name", "_diffusers_version", "_name_or_path", "_use_default_values", "_commit_hash")


def default_tolerance(*dtypes: torch.dtype | str | None) -> Tolerance:
    """fp32 parity is exact to 1e-3; in bf16/fp16 a max diff ~1e-1 is normal and the cosine is the real signal."""
    resolved = [_as_dtype(d) for d in dtypes if d is not None]
    if any(d in _LOW_PRECISION for d in resolved):
        return Tolerance(max_abs=1e-1, min_cosine=0.9999)
    return Tolerance(max_abs=1e-3)


def _as_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    resolved = getattr(torch, name, None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}")
    return resolved


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def tensor_stats(reference: torch.Tensor, candidate: torch.Tensor) -> dict[str, float]:
    """max/mean abs diff, relative max, cosine and the reference's scale, over finite elements, in float32+.

    One pass over the difference in the common case (everything finite); the non-finite bookkeeping only runs
    when the difference itself is not finite. Reductions use torch's pairwise summation, accurate to ~1e-7 even
    over millions of elements, which the 0.9999 cosine bound needs.
    """
    ref = reference.detach()
    cand = candidate.detach()
    if cand.device != ref.device:
        ref = ref.to(cand.device)
    if ref.is_complex() or cand.is_complex():
        ref, cand = torch.view_as_real(ref), torch.view_as_real(cand)
    work = torch.float64 if torch.float64 in (ref.dtype, cand.dtype) else torch.float32
    ref = ref.reshape(-1).to(work)
    cand = cand.reshape(-1).to(work)
    if ref.numel() == 0:
        return {"max_abs": 0.0, "mean_abs": 0.0, "max_rel": 0.0, "cosine": 1.0, "scale": 0.0, "nonfinite": False}
    diff = (ref - cand).abs_()
    max_abs = float(diff.max())
    # A finite largest difference means both tensors are finite everywhere (NaN and Inf propagate into it).
    nonfinite = not math.isfinite(max_abs)
    if nonfinite:
        finite = torch.isfinite(ref) & torch.isfinite(cand)
        ref, cand = ref[finite], cand[finite]
        diff = (ref - cand).abs_()
        max_abs = float(diff.max()) if diff.numel() else 0.0
    mean_abs = float(diff.mean()) if diff.numel() else 0.0
    if ref.numel():
        low, high = torch.aminmax(ref)
        scale = max(abs(float(low)), abs(float(high)))
    else:
        scale = 0.0
    norm_r = float(torch.linalg.vector_norm(ref)) if ref.numel() else 0.0
    norm_c = float(torch.linalg.vector_norm(cand)) if cand.numel() else 0.0
    if norm_r == 0.0 and norm_c == 0.0:
        cosine = 1.0
    elif norm_r == 0.0 or norm_c == 0.0:
        cosine = 0.0
    else:
        cosine = float(torch.dot(ref, cand)) / (norm_r * norm_c)
        cosine = max(-1.0, min(1.0, cosine))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    return {
        "max_abs": max_abs,
        "mean_abs": mean_abs,
        "max_rel": max_rel,
        "cosine": cosine,
        "scale": scale,
        "nonfinite": nonfinite,
    }


def compare_tensors(
    reference: torch.Tensor,
    candidate: torch.Tensor,
    name: str = "output",
    tolerance: Tolerance | None = None,
    reference_name: str | None = None,
) -> TensorDiff:
    """Compare two tensors; the verdict says in words what failed."""
    tol = tolerance or default_tolerance(reference.dtype, candidate.dtype)
    base = {
        "name": name,
        "reference_name": reference_name if reference_name not in (None, name) else None,
        "shape_reference": list(reference.shape),
        "shape_candidate": list(candidate.shape),
        "dtype_reference": dtype_name(reference.dtype),
        "dtype_candidate": dtype_name(candidate.dtype),
    }
    if tuple(reference.shape) != tuple(candidate.shape):
        if reference.numel() == candidate.numel():
            reason = (
                f"shape {list(candidate.shape)} != reference {list(reference.shape)} (same element count: "
                "a reshape/permute differs)"
            )
        else:
            reason = f"shape {list(candidate.shape)} != reference {list(reference.shape)}"
        return TensorDiff(**base, passed=False, reason=reason)
    if reference.is_floating_point() != candidate.is_floating_point() and not (
        reference.is_complex() or candidate.is_complex()
    ):
        kinds = f"{base['dtype_candidate']} vs reference {base['dtype_reference']}"
        reference, candidate = reference.double(), candidate.double()
        stats = tensor_stats(reference, candidate)
        return TensorDiff(**base, **_stat_fields(stats), passed=False, reason=f"dtype kind differs: {kinds}")

    stats = tensor_stats(reference, candidate)
    # Differing NaN/Inf patterns make the difference non-finite somewhere; only then look closer.
    reasons = _nonfinite_reasons(reference, candidate) if stats["nonfinite"] else []
    if tol.max_abs is not None and stats["max_abs"] > tol.max_abs:
        reasons.append(f"max abs {stats['max_abs']:.3g} > {tol.max_abs:g}")
    if tol.min_cosine is not None and stats["cosine"] < tol.min_cosine:
        reasons.append(f"cosine {stats['cosine']:.6f} < {tol.min_cosine:g}")
    if tol.max_rel is not None and stats["max_rel"] > tol.max_rel:
        reasons.append(f"max rel {stats['max_rel']:.3g} > {tol.max_rel:g}")
    return TensorDiff(**base, **_stat_fields(stats), passed=not reasons, reason="; ".join(reasons) or None)


def _stat_fields(stats: dict[str, float]) -> dict[str, float]:
    return {
        "max_abs": stats["max_abs"],
        "mean_abs": stats["mean_abs"],
        "max_rel": stats["max_rel"],
        "cosine": stats["cosine"],
        "reference_scale": stats["scale"],
    }


def _nonfinite_reasons(reference: torch.Tensor, candidate: torch.Tensor) -> list[str]:
    if not (reference.is_floating_point() or reference.is_complex()):
        return []
    ref_bad = ~torch.isfinite(reference.detach())
    cand_bad = ~torch.isfinite(candidate.detach().to(reference.device))
    if not bool(ref_bad.any()) and not bool(cand_bad.any()):
        return []
    if bool((ref_bad == cand_bad).all()):
        return []
    return [f"NaN/Inf differ: candidate has {int(cand_bad.sum())}, reference {int(ref_bad.sum())}"]


# --- nested outputs -------------------------------------------------------------------------------------------


def flatten_outputs(obj: Any, prefix: str = "output") -> dict[str, torch.Tensor]:
    """Name every tensor in a nested output: tuples `[i]`, dicts and BaseOutput/dataclasses `.field`.

    numpy arrays and PIL images (pipeline outputs) become tensors; None, strings and numbers are skipped.
    """
    if isinstance(obj, torch.Tensor):  # the common case, called for every module output
        return {prefix: obj}
    flat: dict[str, torch.Tensor] = {}
    _flatten(obj, prefix, flat)
    return flat


def _flatten(obj: Any, name: str, flat: dict[str, torch.Tensor]) -> None:
    if obj is None or isinstance(obj, (str, bytes, bool, int, float)):
        return
    if isinstance(obj, torch.Tensor):
        flat[name] = obj
        return
    array = _as_array(obj)
    if array is not None:
        flat[name] = torch.from_numpy(array)
        return
    # BaseOutput is both a dataclass and an OrderedDict whose keys skip None fields: treat it as a mapping.
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            _flatten(value, f"{name}.{key}", flat)
        return
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            _flatten(getattr(obj, field.name), f"{name}.{field.name}", flat)
        return
    if isinstance(obj, (list, tuple)):
        fields = getattr(obj, "_fields", None)  # namedtuple
        for index, value in enumerate(obj):
            _flatten(value, f"{name}.{fields[index]}" if fields else f"{name}[{index}]", flat)
        return


def _as_array(obj: Any):
    if isinstance(obj, np.ndarray):
        return np.ascontiguousarray(obj)
    if type(obj).__module__.startswith("PIL."):
        return np.asarray(obj).copy()
    return None


def pair_outputs(
    reference: Mapping[str, torch.Tensor], candidate: Mapping[str, torch.Tensor]
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Pair flattened outputs by name, else by position when both have as many tensors.

    A research model returning a bare tensor and a diffusers model returning `Transformer2DModelOutput(sample=...)`
    pair positionally; a genuinely missing output is reported rather than skipped.
    """
    ref_names, cand_names = list(reference), list(candidate)
    if set(ref_names) == set(cand_names):
        return [(n, n) for n in cand_names], [], []
    if len(ref_names) == len(cand_names):
        return list(zip(ref_names, cand_names)), [], []
    common = [n for n in cand_names if n in reference]
    return (
        [(n, n) for n in common],
        [n for n in ref_names if n not in candidate],
        [n for n in cand_names if n not in reference],
    )


def compare_outputs(reference: Any, candidate: Any, tolerance: Tolerance | None = None) -> list[TensorDiff]:
    """Compare two (nested) outputs tensor by tensor; unmatched tensors are failures with a reason."""
    ref_flat, cand_flat = flatten_outputs(reference), flatten_outputs(candidate)
    pairs, only_ref, only_cand = pair_outputs(ref_flat, cand_flat)
    diffs = [
        compare_tensors(ref_flat[r], cand_flat[c], name=c, tolerance=tolerance, reference_name=r) for r, c in pairs
    ]
    for name in only_ref:
        t = ref_flat[name]
        diffs.append(_missing(name, t, "the candidate returns no such tensor", reference_side=True))
    for name in only_cand:
        t = cand_flat[name]
        diffs.append(_missing(name, t, "the reference returns no such tensor", reference_side=False))
    if not ref_flat and not cand_flat:
        raise ValueError("neither output contains a tensor: return tensors (or tuples/dicts/BaseOutput of them)")
    return diffs


def _missing(name: str, tensor: torch.Tensor, reason: str, reference_side: bool) -> TensorDiff:
    shape, dtype = list(tensor.shape), dtype_name(tensor.dtype)
    return TensorDiff(
        name=name,
        shape_reference=shape if reference_side else [],
        shape_candidate=[] if reference_side else shape,
        dtype_reference=dtype if reference_side else "",
        dtype_candidate="" if reference_side else dtype,
        passed=False,
        reason=reason,
    )


# --- configs --------------------------------------------------------------------------------------------------


def config_as_dict(config: Any) -> dict[str, Any]:
    """Accept a ConfigMixin object, a FrozenDict/dict, a dataclass, a namespace or a JSON file path."""
    if hasattr(config, "config") and isinstance(config.config, Mapping):
        return dict(config.config)
    if isinstance(config, Mapping):
        return dict(config)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, (str,)) or hasattr(config, "read_text"):
        import json
        from pathlib import Path

        return json.loads(Path(config).read_text())
    if hasattr(config, "__dict__"):
        return {k: v for k, v in vars(config).items() if not k.startswith("_")}
    raise TypeError(f"cannot read a config from {type(config).__name__}")


def diff_configs(
    reference: Any,
    candidate: Any,
    key_map: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
) -> ConfigDiff:
    """Diff two configs; `key_map` renames reference keys (e.g. `depth` -> `num_layers`) before comparing."""
    ref = config_as_dict(reference)
    cand = config_as_dict(candidate)
    skip = set(_CONFIG_NOISE) | set(ignore)
    if key_map:
        ref = {key_map.get(k, k): v for k, v in ref.items()}
    ref = {k: v for k, v in ref.items() if k not in skip}
    cand = {k: v for k, v in cand.items() if k not in skip}
    different = [
        ConfigValueDiff(key=k, reference=_jsonable(ref[k]), candidate=_jsonable(cand[k]))
        for k in ref
        if k in cand and not _values_equal(ref[k], cand[k])
    ]
    return ConfigDiff(
        only_in_reference=sorted(k for k in ref if k not in cand),
        only_in_candidate=sorted(k for k in cand if k not in ref),
        different=different,
        same=sum(1 for k in ref if k in cand) - len(different),
    )


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return a == b


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


# --- state dicts ----------------------------------------------------------------------------------------------


def diff_state_dicts(
    converted: Mapping[str, Any],
    target: Mapping[str, Any] | torch.nn.Module,
    compare_values: bool = False,
    atol: float = 0.0,
) -> StateDictDiff:
    """A converted state dict against the target model (or its state dict).

    `unmapped`: target keys nothing fills (they keep init values, the silent killer); `unexpected`: converted keys
    the target does not know; shape mismatches; with `compare_values`, tensors that differ by more than `atol`.
    """
    if isinstance(target, torch.nn.Module):
        target = target.state_dict()
    unmapped = [k for k in target if k not in converted]
    unexpected = [k for k in converted if k not in target]
    shapes: list[ShapeMismatch] = []
    values: list[ValueMismatch] = []
    matched = 0
    for key, value in converted.items():
        if key not in target:
            continue
        expected = _shape(target[key])
        actual = _shape(value)
        if expected != actual:
            shapes.append(ShapeMismatch(key=key, expected=expected, actual=actual))
            continue
        matched += 1
        if compare_values and isinstance(value, torch.Tensor) and isinstance(target[key], torch.Tensor):
            diff = tensor_stats(target[key], value)["max_abs"]
            if diff > atol:
                values.append(ValueMismatch(key=key, max_abs=diff))
    return StateDictDiff(
        unmapped=unmapped, unexpected=unexpected, shape_mismatches=shapes, value_mismatches=values, matched=matched
    )


def _shape(value: Any) -> list[int]:
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if hasattr(value, "shape"):
        return list(value.shape)
    return list(value)
