"""The state one server process keeps for its client: options, the checkout, and the approval gate.

The MCP server owns exactly one `IntegratorSession`; tool handlers receive it. Nothing else is global. Besides
the checkout it holds what the human said (`approvals`: questions, plans, verdicts), the session trace
(`traces`) and the background jobs (`jobs`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .checkout import Checkout
from .errors import IntegratorError
from .interact.approvals import Approvals, PlanRecord
from .jobs import JobRegistry
from .traces import TraceRecorder


Access = Literal["read", "session", "write"]
# progress(done, total, message): how a long handler reports progress to the edge that called it.
ProgressFn = Callable[[float, float | None, str | None], None]


@dataclass(frozen=True)
class ServerOptions:
    """How `serve` was started."""

    checkout: Path | None = None
    read_only: bool = False
    require_approval: bool = True


class IntegratorSession:
    """Per-server state. Thread-safe: tool handlers run in worker threads."""

    def __init__(self, options: ServerOptions):
        self.options = options
        self._checkout: Checkout | None = None
        self._lock = threading.Lock()
        self.approvals = Approvals()
        self.traces = TraceRecorder(self)
        self.session_id = self.traces.session_id
        self.jobs = JobRegistry(self, self.session_id)

    @property
    def approved_plan(self) -> PlanRecord | None:
        """The plan the human accepted (the newest, when several were), or None."""
        return self.approvals.approved

    def checkout(self) -> Checkout:
        """The checkout, found on first use so the server starts even where no tree is yet."""
        with self._lock:
            if self._checkout is None:
                try:
                    self._checkout = Checkout.find(self.options.checkout)
                except IntegratorError as error:
                    raise IntegratorError(
                        error.problem,
                        "Start the server with `--checkout /path/to/diffusers` "
                        "(in your client's MCP config), or run it from inside the clone.",
                    ) from None
            return self._checkout

    def ensure_may_write(self, tool: str) -> None:
        """The approval gate: write tools refuse until the human has accepted a plan."""
        if self.options.read_only:
            raise IntegratorError(
                f"`{tool}` writes to the checkout, and this server runs with --read-only.",
                "Restart the server without --read-only to make changes.",
            )
        if self.options.require_approval:
            refusal = self.approvals.refusal(tool)
            if refusal is not None:
                raise refusal
