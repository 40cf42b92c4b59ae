"""Report files: `report.json`, `summary.txt` (the short text an LLM acts on), `modules.jsonl` (the full
per-module table) and PNG plots (per-module diff in execution order; per-step curves). matplotlib is imported
only to draw, with the Agg backend.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .results import ModuleDiff, ParityReport, TensorDiff


MAX_TEXT_LINES = 40


def _num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.{digits - 1}e}"


def _tensor_line(d: TensorDiff) -> str:
    verdict = "ok  " if d.passed else "FAIL"
    ref = f" (ref: {d.reference_name})" if d.reference_name else ""
    if d.max_abs is None:
        return f"  {verdict} {d.name}{ref}: {d.reason}"
    cosine = f", cosine {d.cosine:.6f}" if d.cosine is not None else ""
    line = (
        f"  {verdict} {d.name}{ref}: max abs {_num(d.max_abs)}, mean abs {_num(d.mean_abs)}, "
        f"max rel {_num(d.max_rel)}{cosine}"
    )
    return line + (f" — {d.reason}" if d.reason and not d.passed else "")


def render_text(report: ParityReport) -> str:
    """At most ~40 lines: verdict, outputs, first divergence with culprit and causes, stages, next step."""
    lines: list[str] = []
    where = f"{report.host + ':' if report.host else ''}{report.device}/{report.dtype}"
    tol = report.tolerance.describe() if report.tolerance else "n/a"
    lines.append(f"PARITY {report.status.upper()}: {Path(report.spec).name} on {where} (pass: {tol})")
    if report.error is not None:
        err = report.error
        lines.append(f"error ({err.kind}): {err.message}")
        lines.append(f"fix: {err.fix}")
        if err.traceback:
            tail = [ln for ln in err.traceback.strip().splitlines() if ln.strip()][-6:]
            lines.append("traceback (last lines):")
            lines.extend(f"  {ln.rstrip()}" for ln in tail)
        elif err.log_tail:
            lines.append("log (last lines):")
            lines.extend(f"  {ln}" for ln in err.log_tail.strip().splitlines()[-6:])
        return _finish(lines, report)

    if report.outputs:
        lines.append("outputs:")
        shown = sorted(report.outputs, key=lambda d: d.passed)[:6]
        lines.extend(_tensor_line(d) for d in shown)
        if len(report.outputs) > len(shown):
            lines.append(f"  ... {len(report.outputs) - len(shown)} more in report.json")

    if report.config is not None and not report.config.clean:
        c = report.config
        diffs = ", ".join(f"{d.key} (ref {d.reference!r}, cand {d.candidate!r})" for d in c.different[:4])
        lines.append(
            f"config: {len(c.different)} differ{': ' + diffs if diffs else ''}; only in ref: {c.only_in_reference[:4]}; "
            f"only in cand: {c.only_in_candidate[:4]} — fix the config before the numbers"
        )

    loc = report.localization
    if loc is not None:
        fd = loc.first_divergence
        if fd is not None:
            cosine = f", cosine {fd.cosine:.6f}" if fd.cosine is not None else ""
            lines.append(
                f"first divergence: {fd.module} {fd.where} (ref: {fd.reference}); max abs {_num(fd.max_abs)}{cosine}"
            )
            lines.append(f"  culprit: {fd.culprit} ({fd.culprit_class}); last matching: {fd.last_matching or 'none'}")
            lines.append(f"  why: {fd.explanation}")
            if fd.likely_causes:
                lines.append("  likely causes:")
                lines.extend(f"    - {c}" for c in fd.likely_causes[:5])
        elif report.status != "passed":
            lines.append(
                "no aligned module diverges: the difference is outside the aligned modules (pre/post-processing, "
                "sampler, guidance, dtype casts between modules)"
            )
        a = loc.alignment
        methods = ", ".join(f"{k} {v}" for k, v in sorted(a.by_method.items()))
        free = f"; {a.parameter_free} parameter-free by name" if a.parameter_free else ""
        lines.append(f"alignment: {a.aligned}/{a.candidate_modules} candidate modules with weights ({methods}){free}")
        if a.unaligned_with_parameters:
            lines.append(f"  unaligned: {', '.join(a.unaligned_with_parameters[:5])}")
        for anomaly in a.anomalies[:3]:
            lines.append(f"  anomaly: {anomaly}")

    for stage in report.stages:
        bad = next((p for p in stage.points if not p.passed), None)
        state = "passed" if stage.passed else "FAILED"
        extra = f", stopped at {stage.stopped_at}" if stage.stopped_at else ""
        inj = f", injected {', '.join(stage.injected[:3])}" if stage.injected else ""
        lines.append(f"stage {stage.name}: {state}{extra}{inj}")
        if bad is not None:
            worst = max(bad.tensors, key=lambda d: (not d.passed, d.max_abs or 0.0))
            lines.append(
                f"  first failing point: {bad.point}: {worst.name} max abs {_num(worst.max_abs)} ({worst.reason})"
            )
        elif stage.outputs and not all(o.passed for o in stage.outputs):
            worst = next(o for o in stage.outputs if not o.passed)
            lines.append(f"  output {worst.name}: max abs {_num(worst.max_abs)} ({worst.reason})")
        curve = [p for p in stage.points if p.step is not None]
        if len(curve) > 1:
            values = [max((d.max_abs or 0.0) for d in p.tensors) for p in curve]
            lines.append(
                f"  per-step max abs: first {_num(values[0])}, last {_num(values[-1])}, peak {_num(max(values))}"
            )
    lines.extend(f"note: {n}" for n in report.notes[:3])
    return _finish(lines, report)


def _finish(lines: list[str], report: ParityReport) -> str:
    lines.append(f"next: {_next_step(report)}")
    if report.files:
        lines.append("files: " + ", ".join(f"{k}={Path(v).name}" for k, v in report.files.items()))
    if len(lines) > MAX_TEXT_LINES:
        lines = lines[: MAX_TEXT_LINES - 1] + ["... (see summary in report.json)"]
    return "\n".join(lines)


def _next_step(report: ParityReport) -> str:
    if report.status == "passed":
        return "record these numbers; move to the next rung (saved weights, bf16 on GPU, stages)."
    if report.error is not None:
        return "fix what the error names, then re-run the same spec."
    if report.config is not None and not report.config.clean:
        return "make the configs agree first, then re-run."
    fd = report.localization.first_divergence if report.localization else None
    if fd is not None:
        return f"read the code of `{fd.culprit}` against the reference, fix, re-run: the divergence should move later or vanish."
    failing = [s for s in report.stages if not s.passed]
    if failing:
        return f"fix stage `{failing[0].name}` first; nothing downstream can match before it does."
    return "re-run with localisation on (nn.Module sides) or split the run into stages with checkpoints."


# --- files ------------------------------------------------------------------------------------------------------


def write_report(outcome: Any, out_dir: Path) -> ParityReport:
    """Write every report file under `out_dir`; returns the report with `files` and `summary` filled in.

    `outcome` is a `ParityReport` or an `engine.Outcome` (a report plus the full module table).
    """
    report: ParityReport = outcome if isinstance(outcome, ParityReport) else outcome.report
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {"json": str(out_dir / "report.json"), "text": str(out_dir / "summary.txt")}
    rows: list[ModuleDiff] = list(getattr(outcome, "rows", []) or [])
    if rows:
        table = out_dir / "modules.jsonl"
        with table.open("w") as fh:
            for row in rows:
                fh.write(row.model_dump_json() + "\n")
        files["modules"] = str(table)
        if report.localization is not None:
            report.localization.table_path = str(table)
    try:
        files.update(_plots(report, rows, out_dir / "plots"))
    except Exception as exc:  # noqa: BLE001 - a missing matplotlib must not lose the numbers
        report.notes.append(f"plots skipped: {type(exc).__name__}: {exc}")
    report.files = files
    report.summary = render_text(report)
    (out_dir / "summary.txt").write_text(report.summary + "\n")
    _atomic_write(out_dir / "report.json", report.model_dump_json(indent=2))
    return report


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _plots(report: ParityReport, rows: list[ModuleDiff], plot_dir: Path) -> dict[str, str]:
    made: dict[str, str] = {}
    curves = [(s.name, [p for p in s.points if p.step is not None]) for s in report.stages]
    curves = [(name, pts) for name, pts in curves if pts]
    if not rows and not curves:
        return made
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    if rows:
        fig, ax = plt.subplots(figsize=(max(6.0, min(18.0, len(rows) * 0.12)), 3.6), dpi=110)
        xs = list(range(len(rows)))
        out_vals = [_floor(r.output.max_abs if r.output else None) for r in rows]
        in_vals = [_floor(r.input.max_abs if r.input else None) for r in rows]
        ax.semilogy(xs, out_vals, ".-", lw=0.8, ms=3, label="output max abs diff")
        ax.semilogy(xs, in_vals, ".", ms=2, alpha=0.6, label="input max abs diff")
        fd = report.localization.first_divergence if report.localization else None
        if fd is not None:
            idx = next((i for i, r in enumerate(rows) if r.module == fd.module), None)
            if idx is not None:
                ax.axvline(idx, color="red", lw=1, ls="--", label=f"first divergence: {fd.module}")
        if report.tolerance and report.tolerance.max_abs:
            ax.axhline(report.tolerance.max_abs, color="grey", lw=0.8, ls=":", label="output tolerance")
        ax.set_xlabel("aligned candidate modules, in execution order")
        ax.set_ylabel("max abs diff")
        ax.set_title(f"{Path(report.spec).name}: per-module difference")
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        path = plot_dir / "modules.png"
        fig.savefig(path)
        plt.close(fig)
        made["plot_modules"] = str(path)
    if curves:
        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
        for name, pts in curves:
            ax.semilogy(
                [p.step for p in pts],
                [_floor(max((d.max_abs or 0.0) for d in p.tensors)) for p in pts],
                "o-",
                ms=3,
                label=name,
            )
        ax.set_xlabel("denoising step")
        ax.set_ylabel("max abs diff")
        ax.set_title(f"{Path(report.spec).name}: per-step difference")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = plot_dir / "steps.png"
        fig.savefig(path)
        plt.close(fig)
        made["plot_steps"] = str(path)
    return made


def _floor(x: float | None) -> float:
    # log axes cannot show exact zeros; 1e-12 sits visibly below any float noise
    return max(float(x), 1e-12) if x is not None and not math.isnan(x) else float("nan")
