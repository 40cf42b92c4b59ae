"""A quality result as a person reads it in a terminal: findings like a compiler, then one line per check."""

from __future__ import annotations

from .models import QualityResult


def render(result: QualityResult) -> str:
    lines = []
    for finding in result.findings:
        where = ":".join(str(part) for part in (finding.path, finding.line, finding.col) if part is not None)
        fixable = " [fixable]" if finding.fixable else ""
        lines.append(f"{where}: {finding.code} {finding.message} ({finding.check}){fixable}")
    if result.findings_omitted:
        lines.append(f"... {result.findings_omitted} more findings in {result.log_file}")
    if lines:
        lines.append("")
    for item in result.fixed:
        lines.append(f"fixed {item.path} ({item.action} by {', '.join(item.by)})")
    width = max(len(summary.check) for summary in result.summary) if result.summary else 0
    for summary in result.summary:
        count = f"{summary.findings} finding(s)" if summary.findings else ""
        lines.append(f"{summary.check:<{width}}  {summary.status:<7} {count:<13} {summary.detail}".rstrip())
    lines.append("")
    lines += [f"note: {note}" for note in result.notes]
    lines.append(f"scope: {result.scope}; {result.findings_total} finding(s); {result.duration_ms / 1000:.2f} s")
    lines.append(f"log: {result.log_file}")
    lines.append(result.next_step)
    return "\n".join(lines)
