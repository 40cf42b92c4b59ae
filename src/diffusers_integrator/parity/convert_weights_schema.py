"""The pydantic input and result of the `convert_weights` tool: conversion rules as data, and the coverage.

Torch-free, so the server can declare the tool's schema at start-up. The rules are a JSON form of `KeyMap`
(`parity/convert.py`): the same patterns, one rule per `KeyMap` call, plus `reshape` (a Linear over flattened
patches that becomes a Conv kernel, a Conv1d with kernel 1, a JAX kernel layout), which `KeyMap` can only
express as a Python `custom` function.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .results import ShapeMismatch
from .weights import KeyPattern


_PLACEHOLDER = re.compile(r"\{(\w+)(\*?)\}")  # the syntax of parity/convert.py
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$"
_PATTERN_HELP = "`{i}` matches one dotted segment (`3`), `{rest*}` several (`attn.qkv.weight`)"


class _Rule(BaseModel):
    """Fields every rule has; the first rule whose `source` matches a key converts it."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        description=f"Pattern of reference keys: {_PATTERN_HELP}; everything else is literal. Example: "
        "`layers.{i}.attn.qkv.{p}`.",
    )

    def target_templates(self) -> list[str]:
        return []

    @model_validator(mode="after")
    def _placeholders_come_from_the_source(self) -> _Rule:
        captured = [m.group(1) for m in _PLACEHOLDER.finditer(self.source)]
        repeated = {name for name in captured if captured.count(name) > 1}
        if repeated:
            raise ValueError(f"source {self.source!r} uses {{{sorted(repeated)[0]}}} twice: give each a new name")
        for template in self.target_templates():
            unknown = [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) not in captured]
            if unknown:
                raise ValueError(
                    f"target {template!r} uses {{{unknown[0]}}}, which source {self.source!r} does not capture"
                )
        return self


class _OneTarget(_Rule):
    target: str = Field(
        min_length=1, description="The diffusers key, with the source's placeholders: `blocks.{i}.attn.to_out.0.{p}`."
    )

    def target_templates(self) -> list[str]:
        return [self.target]


class RenameRule(_OneTarget):
    """The tensor as is, under a new name."""

    op: Literal["rename"]


class TransposeRule(_OneTarget):
    """A 2-D weight stored for `x @ W` (JAX/Flax, hand-written matmuls) -> torch Linear's (out, in)."""

    op: Literal["transpose"]


class SwapRule(_OneTarget):
    """Swap the two halves along `dim`: `[shift, scale]` -> diffusers' `[scale, shift]` (AdaLayerNormContinuous)."""

    op: Literal["swap"]
    dim: int = Field(default=0, description="The dimension holding the chunks (0: output features).")


class ReorderRule(_OneTarget):
    """Reorder equal chunks along `dim`: `order=[1, 0, 2]` puts the source's chunk 1 first."""

    op: Literal["reorder"]
    order: list[int] = Field(min_length=2, description="A permutation of 0..n-1 for n equal chunks.")
    dim: int = Field(default=0, description="The dimension holding the chunks.")

    @model_validator(mode="after")
    def _a_permutation(self) -> ReorderRule:
        if sorted(self.order) != list(range(len(self.order))):
            raise ValueError(f"order {self.order} is not a permutation of 0..{len(self.order) - 1}")
        return self


class SplitRule(_Rule):
    """A fused tensor (`qkv`, `kv`) split along `dim` into `targets`, in order: equal parts unless `sizes`."""

    op: Literal["split"]
    targets: list[str] = Field(
        min_length=2, description="One diffusers key per part, in order: `[...to_q.{p}, ...to_k.{p}, ...to_v.{p}]`."
    )
    dim: int = Field(default=0, description="The dimension to split (0: output features).")
    sizes: list[int] | None = Field(
        default=None, description="Part sizes along `dim` (grouped-query attention); default: equal parts."
    )

    def target_templates(self) -> list[str]:
        return self.targets

    @model_validator(mode="after")
    def _sizes_match_targets(self) -> SplitRule:
        if self.sizes is not None and (len(self.sizes) != len(self.targets) or min(self.sizes) < 1):
            raise ValueError(f"sizes {self.sizes} must give one positive size per target ({len(self.targets)})")
        return self


class ReshapeRule(_OneTarget):
    """Reshape to `shape`, then permute dims: a Linear over (p, p, C) patches -> Conv2d (D, C, p, p) is
    `shape=[-1, p, p, C], permute=[0, 3, 1, 2]`; a Conv1d with kernel 1 -> Linear is `shape=[out, in]`."""

    op: Literal["reshape"]
    shape: list[int] | None = Field(default=None, description="The new shape; one `-1` is inferred.")
    permute: list[int] | None = Field(default=None, description="A permutation of the dims, applied after `shape`.")

    @model_validator(mode="after")
    def _valid_shape_and_permutation(self) -> ReshapeRule:
        if self.shape is None and self.permute is None:
            raise ValueError("a reshape rule needs `shape`, `permute` or both")
        if self.shape is not None and (self.shape.count(-1) > 1 or any(d < 1 and d != -1 for d in self.shape)):
            raise ValueError(f"shape {self.shape} must hold positive sizes and at most one -1")
        if self.permute is not None and sorted(self.permute) != list(range(len(self.permute))):
            raise ValueError(f"permute {self.permute} is not a permutation of 0..{len(self.permute) - 1}")
        return self


class DropRule(_Rule):
    """Source keys left out on purpose (EMA copies, optimizer state, buffers the model recomputes)."""

    op: Literal["drop"]


ConversionRule = Annotated[
    RenameRule | TransposeRule | SplitRule | SwapRule | ReorderRule | ReshapeRule | DropRule,
    Field(discriminator="op"),
]


class ConvertWeightsRequest(BaseModel):
    """What to convert, with which rules, checked against what."""

    source: str = Field(
        description="The reference checkpoint: a .safetensors / .bin / .pt file, a sharded `*.index.json` or a "
        "folder of weights. Relative paths are taken from the checkout root; absolute paths may point anywhere "
        "(it is only read)."
    )
    rules: list[ConversionRule] = Field(
        min_length=1,
        description="Ordered conversion rules; the first rule whose `source` pattern matches a key converts it. "
        f"Patterns: {_PATTERN_HELP}. Ops: `rename`, `transpose`, `split` (fused qkv -> `targets`), `swap` "
        "(halves), `reorder` (chunks), `reshape` (shape, permute), `drop` (consumed on purpose).",
    )
    target: str | None = Field(
        default=None,
        description="What the diffusers model expects: the folder (or its .safetensors file) that "
        "`save_pretrained` wrote for a freshly built model, or a JSON file of `{key: shape}` "
        "(`{k: list(v.shape) for k, v in model.state_dict().items()}`, cheap on the meta device). Only headers are "
        "read. Without it, missing keys and shape mismatches cannot be checked.",
    )
    name: str | None = Field(
        default=None,
        max_length=200,
        pattern=NAME_PATTERN,
        description="Output folder under `.diffusers-integrator/weights/` (`foo/transformer`); default: the "
        "source's file or folder name.",
    )
    dtype: Literal["keep", "float32", "bfloat16", "float16"] = Field(
        default="keep", description="Cast floating-point tensors to this dtype; `keep` leaves each as stored."
    )
    dry_run: bool = Field(default=False, description="Report the coverage only; read headers, write nothing.")
    allow_incomplete: bool = Field(
        default=False,
        description="Write the weights even when the coverage is not complete (a target key with no source, such "
        "as a persistent buffer the model computes). Default: an incomplete conversion writes nothing.",
    )


class KeyGroups(BaseModel):
    """Keys folded over block indices (`layers.*.attn.qkv.weight`, with the count and the index range)."""

    count: int = Field(description="How many keys, in all.")
    patterns: list[KeyPattern] = Field(default_factory=list)
    truncated: int = Field(default=0, description="Patterns left out to keep the result small.")


class RuleRef(BaseModel):
    """A rule, by its position in `rules`."""

    index: int
    op: str
    source: str


class ConversionCoverage(BaseModel):
    """What the rules did with every source key, and how the result fits the target."""

    source_keys: int
    converted: int = Field(description="Tensors the conversion produces.")
    dropped: int = Field(description="Source keys consumed by `drop` rules.")
    target_checked: bool = Field(description="False without `target`: missing keys and shapes were not checked.")
    target_keys: int | None = None
    unused_source_keys: KeyGroups = Field(description="Source keys no rule consumed: weights silently lost.")
    missing_target_keys: KeyGroups = Field(description="Target keys nothing produced: left at their init values.")
    unexpected_target_keys: KeyGroups = Field(description="Produced keys the target does not have.")
    shape_mismatches: list[ShapeMismatch] = Field(default_factory=list, description="expected = the target's shape.")
    shape_mismatch_count: int = 0
    unmatched_rules: list[RuleRef] = Field(
        default_factory=list, description="Rules whose source pattern matched no key (a typo, or a stale rule)."
    )


class ConvertWeightsResult(BaseModel):
    """The coverage, where the weights went, and what to do next."""

    complete: bool = Field(
        description="Every source key consumed and, with a target, every target key filled with the right shape."
    )
    written: bool
    output_dir: str | None = Field(default=None, description="Relative to the checkout root.")
    files: list[str] = Field(default_factory=list, description="Weight files written, relative to output_dir.")
    loadable: bool = Field(
        default=False,
        description="output_dir holds the target's config.json too: `FooModel.from_pretrained(output_dir)` loads it.",
    )
    report: str | None = Field(default=None, description="conversion.json: the rules, full coverage and weight map.")
    coverage: ConversionCoverage
    weight_map: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Reference module -> diffusers module(s), for a parity spec's `weight_map` (a fused module maps "
        "to its parts in order).",
    )
    weight_map_total: int = 0
    next_step: str
