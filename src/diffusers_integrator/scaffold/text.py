"""The human-readable rendering of a `ScaffoldResult` (what the CLI prints without --json)."""

from __future__ import annotations

from .schema import ScaffoldResult


def render(result: ScaffoldResult, *, diffs: bool = False) -> str:
    """Names, files with their purpose, registrations, skips and the checklist; the diffs when asked."""
    names = result.names
    lines = [result.summary, "", "Names:"]
    for label, value in (
        ("transformer", names.transformer),
        ("autoencoder", names.autoencoder),
        ("scheduler", names.scheduler),
        ("pipelines", ", ".join(p.class_name for p in names.pipelines)),
        ("pipeline output", names.pipeline_output),
        ("modular pipeline", names.modular_pipeline),
        ("modular blocks", names.modular_blocks),
        ("modular model_name", names.modular_model_name if names.modular_pipeline else None),
        ("LoRA mixin", names.lora_mixin),
        ("package", names.pipeline_package or names.modular_package),
    ):
        if value:
            lines.append(f"  {label}: {value}")
    lines += ["", "Files:"]
    lines += [
        f"  {f.action:<9} {f.path}  ({f.purpose})" if f.purpose else f"  {f.action:<9} {f.path}" for f in result.files
    ]
    if result.registered:
        lines += ["", f"Registered: {', '.join(result.registered)}", f"  {result.registration_summary}"]
    if result.skipped:
        lines += ["", "Skipped:"] + [f"  - {item}" for item in result.skipped]
    if result.checklist:
        lines += ["", "Now fill in:"]
        for number, item in enumerate(result.checklist, 1):
            lines.append(f"  {number}. {item.task}")
            lines.append(f"     read: {item.skill}" + (f"; files: {', '.join(item.files)}" if item.files else ""))
    if diffs and result.changes:
        lines += ["", "Diffs:", ""] + [change.diff for change in result.changes if change.diff]
    if result.diff_file:
        lines += ["", f"Full diff: {result.diff_file}"]
    return "\n".join(lines).rstrip() + "\n"
