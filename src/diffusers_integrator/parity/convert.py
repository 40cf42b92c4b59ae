"""Weight-conversion helpers: key maps with a coverage report, fused-QKV split, chunk swaps, transposes, and the
save_pretrained -> from_pretrained round trip.

A `KeyMap` also records where every converted tensor came from (source key, row ranges, transposed), so the
same map that converts the weights tells localisation which reference activation each candidate module must
reproduce (`Conversion.module_map()`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .compare import compare_outputs, diff_configs, diff_state_dicts
from .results import KeyMapCoverage, RoundTripResult, ShapeMismatch, Tolerance


# --- tensor transforms ------------------------------------------------------------------------------------------


def split_fused(tensor: torch.Tensor, parts: int | Sequence[int] = 3, dim: int = 0) -> list[torch.Tensor]:
    """Split a fused projection (e.g. `qkv.weight` of shape (3*d, d)) into equal parts or the given sizes."""
    if isinstance(parts, int):
        if tensor.shape[dim] % parts:
            raise ValueError(f"dim {dim} of size {tensor.shape[dim]} does not split into {parts} equal parts")
        return [t.contiguous() for t in torch.chunk(tensor, parts, dim=dim)]
    if sum(parts) != tensor.shape[dim]:
        raise ValueError(f"sizes {list(parts)} do not add up to {tensor.shape[dim]}")
    return [t.contiguous() for t in torch.split(tensor, list(parts), dim=dim)]


def fuse(tensors: Sequence[torch.Tensor], dim: int = 0) -> torch.Tensor:
    """Concatenate separate projections into a fused one (the inverse of `split_fused`)."""
    return torch.cat(list(tensors), dim=dim)


def reorder_chunks(tensor: torch.Tensor, order: Sequence[int], dim: int = 0) -> torch.Tensor:
    """Reorder equal chunks along `dim`: `order=[1, 0]` turns `[shift, scale]` into `[scale, shift]`."""
    chunks = torch.chunk(tensor, len(order), dim=dim)
    return torch.cat([chunks[i] for i in order], dim=dim).contiguous()


def swap_halves(tensor: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """`[shift, scale]` <-> `[scale, shift]`: diffusers' AdaLayerNormContinuous chunks `scale, shift`."""
    return reorder_chunks(tensor, [1, 0], dim=dim)


def transpose(tensor: torch.Tensor) -> torch.Tensor:
    """(in, out) storage (a `x @ W` reference, JAX/Flax) -> torch Linear's (out, in)."""
    return tensor.t().contiguous()


# --- key maps ---------------------------------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"\{(\w+)(\*?)\}")


def _compile(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PLACEHOLDER.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>.+?)" if m.group(2) else f"(?P<{m.group(1)}>[^.]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + r"\Z")


def _fill(template: str, groups: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: groups[m.group(1)], template)


@dataclass
class Source:
    """Where a converted tensor came from: rows `segments` of `key` (along dim 0), optionally transposed."""

    key: str
    segments: list[tuple[int, int]] | None = None
    transposed: bool = False


@dataclass
class _Rule:
    pattern: re.Pattern[str]
    targets: list[str]
    kind: str
    dim: int = 0
    order: Sequence[int] | None = None
    sizes: Sequence[int] | None = None
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None


@dataclass
class Conversion:
    """The result of `KeyMap.apply`: converted weights, what was covered, and where each tensor came from."""

    state_dict: dict[str, torch.Tensor]
    coverage: KeyMapCoverage
    provenance: dict[str, Source] = field(default_factory=dict)

    def module_map(self) -> dict[str, list[str]]:
        """Reference module -> candidate modules, from the parameter provenance: a spec's `weight_map`.

        A fused source (`qkv`) maps to its parts in order (`to_q`, `to_k`, `to_v`).
        """
        pairs: dict[str, list[str]] = {}
        for target, source in self.provenance.items():
            t_mod, _, t_leaf = target.rpartition(".")
            s_mod, _, s_leaf = source.key.rpartition(".")
            if t_leaf in ("weight", "bias") and s_leaf in ("weight", "bias"):
                targets = pairs.setdefault(s_mod, [])
                if t_mod not in targets:
                    targets.append(t_mod)
        return pairs


class KeyMap:
    """Ordered conversion rules from reference keys to diffusers keys.

    Patterns use `{name}` for one dotted segment and `{name*}` for several; the first rule that matches a key
    wins. Keys no rule matches are reported as unused (weights that would be silently dropped), unless `drop`ped.

    ```python
    km = KeyMap()
    km.rename("layers.{i}.mlp.fc1.{p}", "blocks.{i}.ff.net.0.proj.{p}")
    km.split("layers.{i}.attn.qkv.{p}", ["blocks.{i}.attn.to_q.{p}", "blocks.{i}.attn.to_k.{p}", "blocks.{i}.attn.to_v.{p}"])
    km.swap("final.modulation.{p}", "norm_out.linear.{p}")      # [shift, scale] -> [scale, shift]
    conversion = km.apply(reference_state_dict, target=model)  # .state_dict, .coverage, .provenance
    ```
    """

    def __init__(self) -> None:
        self.rules: list[_Rule] = []

    def rename(self, source: str, target: str) -> KeyMap:
        self.rules.append(_Rule(_compile(source), [target], "rename"))
        return self

    def transpose(self, source: str, target: str) -> KeyMap:
        self.rules.append(_Rule(_compile(source), [target], "transpose"))
        return self

    def split(self, source: str, targets: Sequence[str], dim: int = 0, sizes: Sequence[int] | None = None) -> KeyMap:
        self.rules.append(_Rule(_compile(source), list(targets), "split", dim=dim, sizes=sizes))
        return self

    def reorder(self, source: str, target: str, order: Sequence[int], dim: int = 0) -> KeyMap:
        self.rules.append(_Rule(_compile(source), [target], "reorder", dim=dim, order=list(order)))
        return self

    def swap(self, source: str, target: str, dim: int = 0) -> KeyMap:
        return self.reorder(source, target, [1, 0], dim=dim)

    def custom(self, source: str, target: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> KeyMap:
        """Any other per-tensor transform; provenance records the source key only."""
        self.rules.append(_Rule(_compile(source), [target], "custom", fn=fn))
        return self

    def drop(self, source: str) -> KeyMap:
        """Source keys consumed on purpose (buffers recomputed at init, EMA copies, ...)."""
        self.rules.append(_Rule(_compile(source), [], "drop"))
        return self

    def apply(
        self,
        source: Mapping[str, torch.Tensor],
        target: torch.nn.Module | Mapping[str, Any] | None = None,
    ) -> Conversion:
        """Convert `source`; with `target`, also report missing/unexpected keys and shape mismatches."""
        out: dict[str, torch.Tensor] = {}
        provenance: dict[str, Source] = {}
        unused: list[str] = []
        for key, tensor in source.items():
            rule, groups = self._match(key)
            if rule is None:
                unused.append(key)
                continue
            for name, value, src in self._convert(rule, groups, key, tensor):
                if name in out:
                    raise ValueError(f"two source keys convert to {name!r} (second: {key!r}): fix the key map")
                out[name] = value
                provenance[name] = src
        coverage = KeyMapCoverage(converted=len(out), unused_source_keys=unused)
        if target is not None:
            diff = diff_state_dicts(out, target)
            coverage.missing_target_keys = diff.unmapped
            coverage.unexpected_target_keys = diff.unexpected
            coverage.shape_mismatches = [ShapeMismatch(**m.model_dump()) for m in diff.shape_mismatches]
        return Conversion(state_dict=out, coverage=coverage, provenance=provenance)

    def _match(self, key: str) -> tuple[_Rule | None, dict[str, str]]:
        for rule in self.rules:
            m = rule.pattern.match(key)
            if m:
                return rule, m.groupdict()
        return None, {}

    @staticmethod
    def _convert(rule: _Rule, groups: dict[str, str], key: str, tensor: torch.Tensor):
        names = [_fill(t, groups) for t in rule.targets]
        if rule.kind == "drop":
            return []
        if rule.kind == "rename":
            return [(names[0], tensor, Source(key))]
        if rule.kind == "custom":
            return [(names[0], rule.fn(tensor), Source(key))]
        if rule.kind == "transpose":
            return [(names[0], transpose(tensor), Source(key, transposed=True))]
        if rule.kind == "split":
            parts = split_fused(tensor, rule.sizes or len(names), dim=rule.dim)
            results, start = [], 0
            for name, part in zip(names, parts):
                stop = start + part.shape[rule.dim]
                segs = [(start, stop)] if rule.dim == 0 else None
                results.append((name, part, Source(key, segments=segs)))
                start = stop
            return results
        if rule.kind == "reorder":
            value = reorder_chunks(tensor, rule.order, dim=rule.dim)
            size = tensor.shape[rule.dim] // len(rule.order)
            segs = [(i * size, (i + 1) * size) for i in rule.order] if rule.dim == 0 else None
            return [(names[0], value, Source(key, segments=segs))]
        raise ValueError(f"unknown rule kind {rule.kind}")


# --- round trip -------------------------------------------------------------------------------------------------


def round_trip_check(
    model: Any,
    path: str | Path,
    inputs: Any = None,
    tolerance: Tolerance | None = None,
    safe_serialization: bool = True,
) -> RoundTripResult:
    """save_pretrained(path) then `type(model).from_pretrained(path)`: weights, config and outputs must survive.

    Catches what conversion scripts get wrong after the numbers already match: a config key not registered with
    `@register_to_config`, a buffer that is not saved, a parameter tied by accident. `path` should be persistent
    (the checkout's `.diffusers-integrator/`), not /tmp. Both models are resident during the check.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=safe_serialization)
    loaded = type(model).from_pretrained(path).to(device=_device_of(model), dtype=_dtype_of(model))
    loaded.eval()
    state = diff_state_dicts(loaded.state_dict(), model.state_dict(), compare_values=True, atol=0.0)
    config = diff_configs(model, loaded)
    outputs = []
    if inputs is not None:
        with torch.no_grad():
            outputs = compare_outputs(
                _call(model, inputs), _call(loaded, inputs), tolerance=tolerance or Tolerance(max_abs=0.0)
            )
    passed = state.clean and config.clean and all(o.passed for o in outputs)
    return RoundTripResult(passed=passed, path=str(path), state_dict=state, config=config, outputs=outputs)


def _call(model: Any, inputs: Any) -> Any:
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def _device_of(model: Any) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _dtype_of(model: Any) -> torch.dtype:
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
