"""The shapes `make_quality` speaks: its request, one finding, one check's summary, and the result.

Results go to an LLM, so they are small by construction: findings are capped (counts stay exact), messages
are one line, diffs and raw tool output go to the log file the result names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator


# Stable check names: skills, evals and the CLI refer to them.
CHECKS: dict[str, str] = {
    "ruff-check": "ruff lint with the checkout's rules (pyflakes, pycodestyle, isort, comprehensions)",
    "ruff-format": "ruff format --check, located to the first changed line of each hunk",
    "registration": "public names registered in every init (the registry engine)",
    "dummies": "dummy objects in sync with the top-level init (the registry engine)",
    "copies": "`# Copied from` blocks identical to their source after the renames",
    "toctree": "every docs page listed in its `_toctree.yml`",
    "model-code": "review rules on model code added since the merge-base: no einops, float64, torch.empty init",
    "pipeline-code": "`@torch.no_grad()` on every pipeline `__call__`",
    "upstream": "the checkout's own `utils/check_*.py` scripts that upstream CI runs",
}

CheckStatus = Literal["passed", "failed", "fixed", "skipped", "broken"]


class QualityRequest(BaseModel):
    """Input of `make_quality`."""

    scope: Literal["changed", "all"] | list[str] = Field(
        default="changed",
        description=(
            "`changed` (default): files changed since the merge-base with the default branch, plus untracked "
            "files; `all`: the whole tree; or a list of files/folders relative to the checkout root."
        ),
    )
    fix: bool = Field(
        default=False,
        description=(
            "Apply what `make style` + `make fix-copies` would (ruff fixes and formatting, `# Copied from` sync, "
            "toctree entries, dummies and registrations), then report what is left. Writes to the checkout."
        ),
    )
    checks: list[str] | None = Field(
        default=None,
        description=f"Run only these checks (default: all): {', '.join(CHECKS)}.",
    )
    max_findings: int = Field(
        default=40, ge=1, le=500, description="Most findings returned; the counts per check stay exact."
    )

    @field_validator("scope")
    @classmethod
    def _scope_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("an explicit scope needs at least one path; use `changed` or `all` otherwise")
        return value

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: list[str] | None) -> list[str] | None:
        unknown = [name for name in value or [] if name not in CHECKS]
        if unknown:
            raise ValueError(f"unknown check(s) {unknown}; choose from {list(CHECKS)}")
        return value


class Finding(BaseModel):
    """One thing the gates reject, where it is, and whether `fix=true` repairs it."""

    check: str
    path: str = Field(description="Relative to the checkout root.")
    line: int | None = Field(default=None, description="1-based; None when the finding is about the whole file.")
    col: int | None = None
    code: str = Field(description="ruff rule code, or the check's own code (e.g. `copy-mismatch`, `einops`).")
    message: str
    fixable: bool = Field(description="True when `make_quality` with `fix=true` repairs it.")


class CheckSummary(BaseModel):
    """How one check went."""

    check: str
    status: CheckStatus
    findings: int = 0
    fixable: int = 0
    detail: str = Field(default="", description="What was checked, with what, or why it was skipped or broken.")
    duration_ms: int = 0


class RuffUsed(BaseModel):
    """Which ruff produced the lint and format findings, and with which configuration."""

    version: str | None
    path: str | None
    pinned: str | None = Field(description="The version the checkout pins (setup.py), or diffusers' pin if none.")
    matches_pin: bool
    note: str = Field(description="Where this ruff and its configuration come from, and why.")
    config: str = Field(description="`pyproject.toml` of the checkout, or the diffusers settings we ship.")


class FixedFile(BaseModel):
    path: str
    action: str
    by: list[str] = Field(description="The checks whose fixes changed this file.")


class QualityResult(BaseModel):
    """The answer of `make_quality`."""

    ok: bool = Field(description="True when no check found anything and none is broken.")
    scope: str = Field(description="`changed`, `all`, or `paths`, with the number of files it covered.")
    files: list[str] = Field(description="The files in scope (first 30).")
    files_total: int
    summary: list[CheckSummary]
    findings: list[Finding] = Field(description="Sorted by path and line; capped at max_findings.")
    findings_total: int
    findings_omitted: int = Field(description="Findings left out of this result; all are in the log file.")
    fixed: list[FixedFile] = Field(default_factory=list, description="Files `fix=true` changed (diffs in the log).")
    ruff: RuffUsed | None
    commands: list[str] = Field(description="The commands run, relative to the checkout root.")
    notes: list[str] = Field(default_factory=list, description="What was skipped, fallen back on, or run how.")
    duration_ms: int
    log_file: str = Field(description="Full log (every finding, raw output, fix diffs), relative to the root.")
    next_step: str
