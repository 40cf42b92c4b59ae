"""The state one server process keeps: options, the checkout, the trace, jobs, and each client's approvals.

The MCP server owns exactly one `IntegratorSession`; tool handlers receive it. Nothing else is global. Approvals
(question sets, plans, verdicts) belong to the client that obtained them (`clients.py`): over stdio that is the
one client of the process; over HTTP, each MCP session. The trace recorder and the job registry are given only
what they need from it (the checkout, the approved plan).

Start-up imports none of them: the checkout, the recorder, the job registry and the approvals are built (and
their modules imported) on first use, the first tool call or plan read, so `serve` answers `tools/list` sooner.
The session's start time (and so its id) is still the moment the session was made.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import IntegratorError
from .clients import ClientKey, current_client


if TYPE_CHECKING:
    from ..checkout import Checkout
    from ..interact.approvals import Approvals, PlanRecord
    from .jobs import JobRegistry
    from .recorder import TraceRecorder


# What a tool may touch. `--read-only` lists only READ_ONLY_ACCESS tools; the approval gate guards GATED_ACCESS
# (a write's `dry_run` excepted). docs/security.md states what each promises.
#   read     reads the tree (and files the caller names); runs nothing
#   session  changes only the calling client's session state (answers, verdicts)
#   state    runs the product's and the checkout's own tooling (ruff, utils/check_*.py, weight conversion) and
#            writes only working files under .diffusers-integrator/ (logs, converted weights)
#   execute  runs code the agent wrote (a parity spec), which may do anything the user's account may
#   write    changes the tree
Access = Literal["read", "session", "state", "execute", "write"]
READ_ONLY_ACCESS: tuple[Access, ...] = ("read", "session")
GATED_ACCESS: tuple[Access, ...] = ("execute", "write")
ACTIONS: dict[str, str] = {"execute": "runs code from the checkout", "write": "writes to the checkout"}


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
        self.started = dt.datetime.now(dt.timezone.utc)  # the trace's start and its session id's moment
        self._checkout: Checkout | None = None
        self._lock = threading.Lock()
        self._building = threading.RLock()  # builds `traces` and `jobs` once (`jobs` asks for `traces` inside)
        self._approvals: dict[str, Approvals] = {}
        self._traces: TraceRecorder | None = None
        self._jobs: JobRegistry | None = None

    @property
    def traces(self) -> TraceRecorder:
        """The session trace recorder (its file is written from the first recorded call on)."""
        if self._traces is None:
            from .recorder import TraceRecorder

            with self._building:
                if self._traces is None:
                    self._traces = TraceRecorder(
                        self.checkout,
                        read_only=self.options.read_only,
                        require_approval=self.options.require_approval,
                        approved_plan=self._approved_plan_id,
                        started=self.started,
                    )
        return self._traces

    @property
    def session_id(self) -> str:
        """Sortable by time, unique across processes; names the trace file and tags the jobs."""
        return self.traces.session_id

    @property
    def jobs(self) -> JobRegistry:
        """The background jobs of this session."""
        if self._jobs is None:
            from .jobs import JobRegistry

            with self._building:
                if self._jobs is None:
                    self._jobs = JobRegistry(lambda: self.checkout().state_dir, self.session_id)
        return self._jobs

    @property
    def approvals(self) -> Approvals:
        """The calling client's question sets, plans and verdicts (see `clients.py`)."""
        return self.approvals_of(current_client())

    def approvals_of(self, client: ClientKey) -> Approvals:
        """A client's approvals; a sessionless HTTP request gets fresh ones that nothing keeps."""
        from ..interact.approvals import Approvals

        if client is None:
            return Approvals()
        with self._lock:
            return self._approvals.setdefault(client, Approvals())

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
                from ..checkout import Checkout

                try:
                    self._checkout = Checkout.find(self.options.checkout)
                except IntegratorError as error:
                    raise IntegratorError(
                        error.problem,
                        "Start the server with `--checkout /path/to/diffusers` "
                        "(in your client's MCP config), or run it from inside the clone.",
                    ) from None
            return self._checkout

    def ensure_may_write(self, tool: str, access: Access = "write") -> None:
        """The gate: a tool that writes to the tree or runs the agent's code refuses until the calling client's
        human has accepted a plan (and always under --read-only)."""
        action = ACTIONS.get(access, ACTIONS["write"])
        if self.options.read_only:
            raise IntegratorError(
                f"`{tool}` {action}, and this server runs with --read-only.",
                "Restart the server without --read-only to make changes or run code.",
            )
        if not self.options.require_approval:
            return
        if current_client() is None:
            raise IntegratorError(
                f"`{tool}` {action}, and this HTTP request carries no MCP session that an approved plan could "
                "belong to (protocol 2026-07-28 and stateless HTTP keep no session).",
                "Connect over stdio, or over streamable HTTP with a session (protocol 2025-11-25, Mcp-Session-Id), "
                "and get the plan accepted with confirm_plan in that session.",
            )
        refusal = self.approvals.refusal(tool, action)
        if refusal is not None:
            raise refusal
