"""Keeps registration results small enough for a model's context: a big init's diff is cut, the file has it all."""

from __future__ import annotations

from ...registry import RegistrationResult


MAX_DIFF_CHARS = 6000


def capped(result: RegistrationResult) -> RegistrationResult:
    for change in result.changes:
        if len(change.diff) > MAX_DIFF_CHARS:
            change.diff = change.diff[:MAX_DIFF_CHARS] + f"\n... diff cut at {MAX_DIFF_CHARS} characters ...\n"
    return result
