"""Pydantic models for everything parity reports: comparisons, localisation, stages, errors.

Kept free of torch so the server can build, validate and return a `ParityReport` without importing it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Tolerance(BaseModel):
    """Pass criteria for one tensor comparison; a `None` bound is not checked."""

    max_abs: float | None = 1e-3
    min_cosine: float | None = None
    max_rel: float | None = None

    def describe(self) -> str:
        parts = []
        if self.max_abs is not None:
            parts.append(f"max abs <= {self.max_abs:g}")
        if self.min_cosine is not None:
            parts.append(f"cosine >= {self.min_cosine:g}")
        if self.max_rel is not None:
            parts.append(f"max rel <= {self.max_rel:g}")
        return ", ".join(parts) or "no bound"


class TensorDiff(BaseModel):
    """How one candidate tensor differs from its reference."""

    name: str
    reference_name: str | None = Field(None, description="set when the reference names this tensor differently")
    shape_reference: list[int]
    shape_candidate: list[int]
    dtype_reference: str
    dtype_candidate: str
    max_abs: float | None = None
    mean_abs: float | None = None
    max_rel: float | None = Field(None, description="max abs diff divided by the reference's largest magnitude")
    cosine: float | None = None
    reference_scale: float | None = Field(None, description="largest magnitude in the reference")
    passed: bool
    reason: str | None = Field(None, description="why it failed, in words")


class ConfigValueDiff(BaseModel):
    key: str
    reference: object = None
    candidate: object = None


class ConfigDiff(BaseModel):
    """Config keys that differ: diff configs before debugging numbers."""

    only_in_reference: list[str] = []
    only_in_candidate: list[str] = []
    different: list[ConfigValueDiff] = []
    same: int = 0

    @property
    def clean(self) -> bool:
        return not (self.only_in_reference or self.only_in_candidate or self.different)


class ShapeMismatch(BaseModel):
    key: str
    expected: list[int]
    actual: list[int]


class ValueMismatch(BaseModel):
    key: str
    max_abs: float


class StateDictDiff(BaseModel):
    """A converted state dict against the model that must load it."""

    unmapped: list[str] = Field([], description="model keys the converted state dict does not fill")
    unexpected: list[str] = Field([], description="converted keys the model does not have")
    shape_mismatches: list[ShapeMismatch] = []
    value_mismatches: list[ValueMismatch] = []
    matched: int = 0

    @property
    def clean(self) -> bool:
        return not (self.unmapped or self.unexpected or self.shape_mismatches or self.value_mismatches)


class KeyMapCoverage(BaseModel):
    """What a key map did with a source state dict."""

    converted: int = 0
    unused_source_keys: list[str] = Field([], description="source keys no rule consumed (weights silently dropped)")
    missing_target_keys: list[str] = Field([], description="target keys nothing produced (left at init values)")
    unexpected_target_keys: list[str] = Field([], description="produced keys the target model does not have")
    shape_mismatches: list[ShapeMismatch] = []

    @property
    def complete(self) -> bool:
        return not (
            self.unused_source_keys or self.missing_target_keys or self.unexpected_target_keys or self.shape_mismatches
        )


class RoundTripResult(BaseModel):
    """save_pretrained -> from_pretrained must give back the same weights, config and outputs."""

    passed: bool
    path: str
    state_dict: StateDictDiff
    config: ConfigDiff
    outputs: list[TensorDiff] = []


class Segment(BaseModel):
    """Rows `start:stop` (output features) of a reference module; `None` bounds mean the whole output."""

    reference: str
    start: int | None = None
    stop: int | None = None

    def describe(self) -> str:
        if self.start is None:
            return self.reference
        return f"{self.reference}[{self.start}:{self.stop}]"


class AlignedModule(BaseModel):
    """A candidate module and the reference activation it must reproduce (the concatenation of `sources`)."""

    candidate: str
    sources: list[Segment]
    method: Literal["name", "weight_map", "values", "structure"]
    transposed: bool = False
    permuted_columns: bool = False
    note: str | None = None

    def describe_reference(self) -> str:
        if len(self.sources) > 4:
            refs = sorted({s.reference for s in self.sources})
            return f"{'+'.join(refs)} ({len(self.sources)} row ranges)"
        return " + ".join(s.describe() for s in self.sources)


class ModuleDiff(BaseModel):
    """One call of an aligned module in the candidate's execution order."""

    index: int
    module: str
    call: int = 0
    module_class: str = ""
    reference: str
    output: TensorDiff | None = None
    input: TensorDiff | None = None
    passed: bool


class Divergence(BaseModel):
    """Where the candidate first leaves the reference, and what probably did it."""

    module: str = Field(description="candidate module whose output (or input) first exceeds tolerance")
    reference: str
    where: Literal["output", "input"] = Field(
        description="'output': its inputs matched, so the module itself diverges; "
        "'input': the code that produced its input diverges (see culprit)"
    )
    culprit: str = Field(description="the candidate module most likely at fault")
    culprit_class: str = ""
    max_abs: float | None = None
    cosine: float | None = None
    last_matching: str | None = Field(None, description="the last aligned module whose output still matched")
    explanation: str
    likely_causes: list[str] = []


class AlignmentSummary(BaseModel):
    candidate_modules: int = 0
    aligned: int = 0
    parameter_free: int = Field(0, description="parameter-free leaves aligned by name (norms, activations, RoPE)")
    by_method: dict[str, int] = {}
    unaligned_with_parameters: list[str] = []
    anomalies: list[str] = Field([], description="mappings that look like conversion mistakes")


class Localization(BaseModel):
    alignment: AlignmentSummary
    first_divergence: Divergence | None = None
    modules: list[ModuleDiff] = Field([], description="a window of the table around the divergence")
    total_rows: int = 0
    table_path: str | None = None


class StepDiff(BaseModel):
    point: str
    step: int | None = None
    tensors: list[TensorDiff]
    passed: bool


class StageResult(BaseModel):
    name: str
    passed: bool
    stopped_at: str | None = None
    injected: list[str] = []
    points: list[StepDiff] = []
    outputs: list[TensorDiff] = []


class ParityError(BaseModel):
    """The spec could not be run to the end; the caller keeps running."""

    kind: Literal["spec", "crash", "timeout", "memory", "cuda_oom", "remote", "internal"]
    message: str
    fix: str
    traceback: str | None = None
    log_tail: str | None = None


class Timings(BaseModel):
    reference_s: float | None = None
    candidate_s: float | None = None
    localize_s: float | None = None
    total_s: float | None = None


class ParityReport(BaseModel):
    """What `run_spec` returns and writes to `<out_dir>/report.json`."""

    status: Literal["passed", "failed", "error"]
    spec: str
    device: str = "cpu"
    dtype: str = "float32"
    host: str | None = None
    tolerance: Tolerance | None = None
    outputs: list[TensorDiff] = []
    config: ConfigDiff | None = None
    state_dict: StateDictDiff | None = None
    localization: Localization | None = None
    stages: list[StageResult] = []
    error: ParityError | None = None
    timings: Timings = Timings()
    peak_rss_mb: float | None = None
    peak_gpu_mb: float | None = None
    notes: list[str] = []
    files: dict[str, str] = Field({}, description="report files by role: json, text, plots, module table")
    summary: str = Field("", description="the short text an LLM can act on")

    @property
    def passed(self) -> bool:
        return self.status == "passed"
