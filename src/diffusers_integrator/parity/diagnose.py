"""Turn a localisation run into a `Divergence`: the culprit module, a sentence, and the likely causes.

The causes come from the pitfall catalogue (shared/diffusers-facts.md, "Parity"), chosen by what the culprit
is (an adaptive norm, attention, RoPE, a timestep embedding, an activation, a plain Linear) and by what the
weight alignment noticed (a weight found transposed, rows reordered, a bias missing).
"""

from __future__ import annotations

import re

from .localize import LocalizationRun, Row
from .results import Divergence, Localization, ModuleDiff


_CAUSES: list[tuple[re.Pattern[str], list[str]]] = [
    (
        re.compile(r"adalayernorm|adanorm|modulat|adaln", re.I),
        [
            "shift/scale/gate chunk order: diffusers' AdaLayerNormContinuous chunks `scale, shift`, AdaLayerNormZero "
            "`shift, scale, gate`; research code often stores `[shift, scale]`: reorder the rows in the conversion "
            "(convert.swap_halves / KeyMap.swap)",
            "norm eps or elementwise_affine differ from the reference (diff the configs)",
            "`1 + scale` vs `scale` in the modulation",
        ],
    ),
    (
        re.compile(r"rope|rotary|pos_?embed|posembed|freqs", re.I),
        [
            "RoPE frequencies or positions computed in another dtype (the reference may use float64/float32)",
            "RoPE layout: interleaved pairs (repeat_interleave_real) vs half-split rotation, or axes in another order",
            "theta or axes_dims differ from the reference",
        ],
    ),
    (
        re.compile(r"guidance", re.I),
        [
            "guidance semantics: off by one (g vs g - 1), or a x1000 scale applied on one side only",
            "timestep dtype before the sinusoidal embedding",
        ],
    ),
    (
        re.compile(r"time|timestep|t_embed|temb", re.I),
        [
            "timestep dtype: an int vs float (or bf16) timestep before the sinusoidal embedding",
            "sinusoidal embedding settings: flip_sin_to_cos, downscale_freq_shift, max period, x1000 timestep scale",
            "guidance semantics when a guidance embedding is summed in (off by one)",
        ],
    ),
    (
        re.compile(r"attn|attention", re.I),
        [
            "qk-norm missing, or applied before/after the head split (norm_q / norm_k)",
            "RoPE applied with another dtype or layout (interleaved vs half-split), or to the wrong tokens",
            "head layout: heads interleaved ((heads, head_dim) vs (head_dim, heads)) when reshaping q/k/v",
            "fused-QKV split order in the conversion (q, k, v rows)",
            "attention scale or mask differs",
        ],
    ),
    (
        re.compile(r"gelu|silu|swish|mish|relu|act|feedforward|\bff\b|mlp", re.I),
        [
            "activation differs: exact GELU vs tanh approximation, SiLU vs GELU, GEGLU/SwiGLU gate order",
            "the hidden width or the gated half taken in the wrong order",
        ],
    ),
    (
        re.compile(r"layernorm|rmsnorm|groupnorm|norm", re.I),
        [
            "norm eps differs (e.g. 1e-6 vs 1e-5: diff the configs)",
            "affine weight/bias not converted, or elementwise_affine differs",
            "norm computed in another dtype (the reference upcasts to float32?)",
            "missing qk-norm or a norm applied to the wrong tensor",
        ],
    ),
    (
        re.compile(r"patch|x_embed|proj_in|embedder|conv_in", re.I),
        [
            "patchify order: (p, p, C) vs (C, p, p) flattening, or height/width swapped",
            "input dtype: the model casts its input (noise in bf16 vs fp32) before embedding",
        ],
    ),
    (
        re.compile(r"block|layer", re.I),
        [
            "the block's own forward: modulation chunk order (shift/scale/gate), `1 + scale` vs `scale`, gates "
            "applied to the wrong branch, residual added before/after the norm",
            "a dtype cast in the block (an upcast to float32 the reference does, or does not do)",
        ],
    ),
    (
        re.compile(r"linear|conv|proj|to_[qkv]|to_out|fc\d?|dense", re.I),
        [
            "the weight is transposed, taken from another layer, or not converted",
            "bias dropped or moved to another layer",
        ],
    ),
]

_TOP_LEVEL = [
    "input preprocessing in the model's forward: an input cast to another dtype (noise in bf16 vs fp32), "
    "patchify/reshape order, timestep scaling (x1000) or dtype",
]


_STANDARD = {"Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "ConvTranspose3d", "Embedding"}


def diagnose(run: LocalizationRun, window: int = 8) -> Localization:
    """Build the `Localization` for the report: alignment summary, first divergence, a window of rows."""
    rows = run.rows
    loc = Localization(alignment=run.alignment.summary, total_rows=len(rows))
    if run.first is None:
        loc.modules = _window(rows, _worst(rows), window)
        return loc
    loc.first_divergence = _divergence(run, rows[run.first], run.first_where or "output")
    loc.modules = _window(rows, run.first, window)
    return loc


def _worst(rows: list[Row]) -> int:
    if not rows:
        return 0
    return max(range(len(rows)), key=lambda i: max(rows[i].output_rel, rows[i].input_rel))


def _window(rows: list[Row], center: int, size: int) -> list[ModuleDiff]:
    lo = max(0, center - size)
    return [r.diff for r in rows[lo : center + size + 1]]


def _divergence(run: LocalizationRun, row: Row, where: str) -> Divergence:
    idx = row.diff.index
    last_ok = next(
        (r.diff.module for r in reversed(run.rows[:idx]) if r.output_passed is True),
        None,
    )
    diff = row.diff.input if where == "input" else row.diff.output
    suspect = row.diff.module in run.alignment.suspects
    if where == "output" and row.input_passed is None and row.diff.module_class in _STANDARD and not suspect:
        # A stock layer whose weights equal the reference's computes the same function: when its input could
        # not be compared (another layout), the difference must come in with the input.
        where = "input"
    if where == "output":
        culprit, culprit_class = row.diff.module, row.diff.module_class
        inputs = "its input matched" if row.input_passed else "its input was not comparable"
        explanation = (
            f"`{row.diff.module}` ({row.diff.module_class}) is the first aligned module whose output diverges "
            f"from reference `{row.diff.reference}`; {inputs}, so the module itself (its weights or its forward) "
            "is at fault."
        )
    else:
        if row.producer:
            culprit, culprit_class = row.producer, row.producer_class or ""
            made_by = f"returned by `{culprit}` ({culprit_class})"
        else:
            culprit, culprit_class = row.parent, row.parent_class
            made_by = f"computed in the forward of `{culprit or '(top level)'}` ({culprit_class}) itself"
        since = f"after `{last_ok}` still matched" if last_ok else "before any aligned module ran"
        if row.input_passed is None:
            explanation = (
                f"`{row.diff.module}` ({row.diff.module_class}) holds the reference's weights yet its output "
                f"diverges, and its input has another layout than the reference's ({since}), so the input "
                f"differs. That input was {made_by}: look at that code."
            )
        else:
            explanation = (
                f"The input of `{row.diff.module}` already diverges ({since}). That input was {made_by}: "
                "look at that code."
            )
    causes = _causes(run, row, culprit, culprit_class, where)
    return Divergence(
        module=row.diff.module,
        reference=row.diff.reference,
        where=where,  # type: ignore[arg-type]
        culprit=culprit or "(top level)",
        culprit_class=culprit_class,
        max_abs=diff.max_abs if diff else None,
        cosine=diff.cosine if diff else None,
        last_matching=last_ok,
        explanation=explanation,
        likely_causes=causes,
    )


def _causes(run: LocalizationRun, row: Row, culprit: str, culprit_class: str, where: str) -> list[str]:
    causes: list[str] = []
    suspects = run.alignment.suspects
    # Weight evidence first: it is specific ("equals the reference's to_k.weight").
    for name in (row.diff.module, culprit):
        if name in suspects:
            causes.append(f"{name}: {suspects[name]}")
    scope = culprit or ""
    for name, sentence in suspects.items():
        if scope and name.startswith(scope + ".") and f"{name}: {sentence}" not in causes:
            causes.append(f"{name}: {sentence}")
    for anomaly in run.alignment.summary.anomalies:
        head = anomaly.split(":", 1)[0]
        if (
            scope and (head == scope or head.startswith(scope + ".") or scope.startswith(head))
        ) and anomaly not in causes:
            causes.append(anomaly)
    if not culprit:
        causes.extend(_TOP_LEVEL)
    text = f"{culprit} {culprit_class}"
    if where == "output" and not culprit.startswith(row.diff.module):
        text += f" {row.diff.module} {row.diff.module_class}"
    for pattern, items in _CAUSES:
        if pattern.search(text):
            causes.extend(items)
            break
    if not causes:
        causes.append(f"read the code of `{culprit or '(top level)'}` between the last matching module and this one")
    seen: set[str] = set()
    return [c for c in causes if not (c in seen or seen.add(c))][:6]
