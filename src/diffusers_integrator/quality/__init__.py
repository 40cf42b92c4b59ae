"""The repo's quality gates as structured findings: ruff, `# Copied from`, registration, docs, review rules.

`run_quality(checkout, QualityRequest(...))` is the one entry point; the MCP tool `make_quality` and the CLI
`diffusers-integrator quality` are thin edges over it.
"""

from .models import CHECKS, CheckSummary, Finding, QualityRequest, QualityResult
from .runner import run_quality


__all__ = ["CHECKS", "CheckSummary", "Finding", "QualityRequest", "QualityResult", "run_quality"]
