"""Turn a localisation run into a `Divergence`: the culprit module, a sentence, and the likely causes.

The causes come from the pitfall catalogue (`data/divergence_causes.json`), chosen by what the culprit
is (an adaptive norm, attention, RoPE, a timestep embedding, an activation, a plain Linear) and by what the
weight alignment noticed (a weight found transposed, rows reordered, a bias missing).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from .localize import LocalizationRun, Row
from .results import Divergence, Localization, ModuleDiff


# The pitfall catalogue by what the culprit module is: data, reviewed like prose (first match in order wins).
_CAUSES_FILE = Path(__file__).parent / "data" / "divergence_causes.json"


@cache
def _catalogue() -> list[tuple[re.Pattern[str], list[str]]]:
    entries = json.loads(_CAUSES_FILE.read_text(encoding="utf-8"))
    return [(re.compile(entry["module_matches"], re.I), entry["causes"]) for entry in entries]


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
    for pattern, items in _catalogue():
        if pattern.search(text):
            causes.extend(items)
            break
    if not causes:
        causes.append(f"read the code of `{culprit or '(top level)'}` between the last matching module and this one")
    seen: set[str] = set()
    return [c for c in causes if not (c in seen or seen.add(c))][:6]
