"""An eval run's report: `summary.md` and `summary.json`, `index.html` with the parity plots, Inspect's viewer.

The page is static and self-contained (open `index.html` from disk): a table of every case × check, coloured
pass / planted fail / unexpected fail, each case's explanations, the parity plots its session produced, and a
link to Inspect's own log viewer bundled beside it (`viewer/`, from `inspect view bundle`).
"""

from __future__ import annotations

import html
import shutil
import subprocess
import sys
from pathlib import Path

from ..checkout import STATE_DIR_NAME
from .checks import CHECKS
from .summary import CaseScore, EvalSummary


VIEWER_DIR = "viewer"
PLOTS_DIR = "plots"


def write_report(summary: EvalSummary, report_dir: Path, *, bundle: bool = True) -> dict[str, Path]:
    """Writes every part of the report into `report_dir`; returns them by name."""
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = collect_plots(summary, report_dir / PLOTS_DIR)
    paths = {
        "json": report_dir / "summary.json",
        "markdown": report_dir / "summary.md",
        "html": report_dir / "index.html",
    }
    paths["json"].write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(summary), encoding="utf-8")
    viewer = bundle_viewer(summary, report_dir / VIEWER_DIR) if bundle else None
    paths["html"].write_text(render_html(summary, plots, report_dir, viewer), encoding="utf-8")
    if viewer is not None:
        paths["viewer"] = viewer
    return paths


def collect_plots(summary: EvalSummary, dest: Path) -> dict[str, list[Path]]:
    """Copies the PNGs of every parity report a case's session wrote (the trees are temporary)."""
    found: dict[str, list[Path]] = {}
    for case, tree in summary.trees.items():
        reports = Path(tree) / STATE_DIR_NAME / "reports" if tree else None
        if reports is None or not reports.is_dir():
            continue
        for png in sorted(reports.rglob("*.png")):
            target = dest / case / png.relative_to(reports)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, target)
            found.setdefault(case, []).append(target)
    return found


def bundle_viewer(summary: EvalSummary, dest: Path) -> Path | None:
    """Inspect's log viewer as static files (`inspect view bundle`), or None when it could not be made."""
    shutil.rmtree(dest, ignore_errors=True)
    command = [sys.executable, "-m", "inspect_ai", "view", "bundle", "--log-dir", str(Path(summary.log).parent)]
    run = subprocess.run([*command, "--output-dir", str(dest)], capture_output=True, text=True, timeout=300)
    return dest / "index.html" if run.returncode == 0 and (dest / "index.html").is_file() else None


def _mark(case: CaseScore, check: str) -> tuple[str, str]:
    """(css class, text) of one cell."""
    passed = case.verdicts.get(check)
    if passed is None:
        return "none", "–"
    if passed:
        return "pass", "pass"
    return ("planted", "fail (planted)") if check in case.expected_failures else ("fail", "FAIL")


def render_markdown(summary: EvalSummary) -> str:
    lines = [
        "# Eval summary",
        "",
        f"Inspect log: `{summary.log}` (open with `inspect view`, or `viewer/index.html` beside this file).",
        "",
        "| case | kind | " + " | ".join(CHECKS) + " | as expected |",
        "|" + "---|" * (len(CHECKS) + 3),
    ]
    for case in summary.cases:
        marks = " | ".join(_mark(case, check)[1] for check in CHECKS)
        lines.append(f"| {case.case} | {case.kind} | {marks} | {'yes' if case.as_expected else 'NO'} |")
    lines += ["", "Pass rate per check: " + ", ".join(f"{c} {r:.0%}" for c, r in summary.pass_rates.items()), ""]
    for case in summary.cases:
        lines += [f"## {case.case}", ""]
        for check, text in case.explanations.items():
            lines.append(f"- **{check}**: {_mark(case, check)[1]} — {text}")
        lines.append("")
    return "\n".join(lines)


_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1f2328; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d0d7de; padding: 6px 10px; text-align: center; }
td.case { text-align: left; font-family: monospace; }
td.pass { background: #1a7f37; color: #fff; }
td.planted { background: #9a6700; color: #fff; }
td.fail { background: #cf222e; color: #fff; font-weight: bold; }
.verdict { font-size: 20px; font-weight: bold; }
.plots img { max-width: 480px; margin: 4px; border: 1px solid #d0d7de; }
li { margin: 2px 0; }
"""


def render_html(summary: EvalSummary, plots: dict[str, list[Path]], root: Path, viewer: Path | None) -> str:
    expected = sum(case.as_expected for case in summary.cases)
    verdict = f"{expected}/{len(summary.cases)} cases as expected"
    head = "".join(f"<th>{html.escape(check)}</th>" for check in CHECKS)
    rows = []
    for case in summary.cases:
        cells = "".join(
            f'<td class="{css}" title="{html.escape(case.explanations.get(check, ""))}">{text}</td>'
            for check in CHECKS
            for css, text in [_mark(case, check)]
        )
        ok = "yes" if case.as_expected else "NO"
        rows.append(f'<tr><td class="case">{html.escape(case.case)}</td><td>{case.kind}</td>{cells}<td>{ok}</td></tr>')
    sections = []
    for case in summary.cases:
        items = "".join(
            f"<li><b>{check}</b>: {_mark(case, check)[1]} — {html.escape(text)}</li>"
            for check, text in case.explanations.items()
        )
        images = "".join(
            f'<img src="{png.relative_to(root).as_posix()}" alt="{html.escape(png.stem)}">'
            for png in plots.get(case.case, [])
        )
        plot_block = f'<div class="plots">{images}</div>' if images else ""
        sections.append(f"<h2>{html.escape(case.case)}</h2><ul>{items}</ul>{plot_block}")
    link = f'<p><a href="{VIEWER_DIR}/index.html">Inspect log viewer</a></p>' if viewer else ""
    rates = ", ".join(f"{check} {rate:.0%}" for check, rate in summary.pass_rates.items())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>diffusers-integrator evals</title>"
        f"<style>{_STYLE}</style></head><body><h1>diffusers-integrator evals</h1>"
        f'<p class="verdict">{verdict}</p><p>Pass rate per check: {rates}</p>{link}'
        f"<table><tr><th>case</th><th>kind</th>{head}<th>as expected</th></tr>{''.join(rows)}</table>"
        f"{''.join(sections)}</body></html>\n"
    )
