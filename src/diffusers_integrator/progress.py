"""How long core work reports progress to whichever edge called it (MCP progress, a job, the terminal)."""

from __future__ import annotations

from collections.abc import Callable


# progress(done, total, message): total is None when the amount of work is not known in advance.
ProgressFn = Callable[[float, float | None, str | None], None]


def no_progress(done: float, total: float | None = None, message: str | None = None) -> None:
    """The progress callback of a caller that does not listen."""
