"""The state one server process keeps for its client: options, the checkout, approvals, trace and jobs.

The MCP server owns exactly one `IntegratorSession`; tool handlers receive it. Nothing else is global. The
trace recorder and the job registry are given only what they need from it (the checkout, the approved plan).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..checkout import Checkout
from ..errors import IntegratorError
from ..interact.approvals import Approvals, PlanRecord
from .jobs import JobRegistry
from .recorder import TraceRecorder


# What a tool may touch: nothing, only the session's own state (and files under the state folder), or the tree.
Access = Literal["read", "session", "write"]


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
        self.traces = TraceRecorder(
            self.checkout,
            read_only=options.read_only,
            require_approval=options.require_approval,
            approved_plan=self._approved_plan_id,
        )
        self.session_id = self.traces.session_id
        self.jobs = JobRegistry(lambda: self.checkout().state_dir, self.session_id)

    @property
    def approved_plan(self) -> PlanRecord | None:
        """The plan the human accepted (the newest, when several were), or None."""
        return self.approvals.approved

    def _approved_plan_id(self) -> str | None:
        approved = self.approvals.approved
        return approved.id if approved else None

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
