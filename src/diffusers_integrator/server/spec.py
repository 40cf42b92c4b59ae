"""`ToolSpec`: how one MCP tool is declared, so `app` can wire every tool the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args, get_type_hints

from mcp_types import ToolAnnotations
from pydantic import BaseModel

from ..interact.forms import HumanForm
from .jobs import JobResult
from .session import Access


# handler(session, request, progress[, reply]) -> result; runs in a worker thread.
Handler = Callable[..., BaseModel]


@dataclass(frozen=True)
class ToolSpec:
    """One MCP tool: its stable name, request and result models, handler and what it may touch.

    `access` drives the read-only switch and the approval gate (see `session.Access`): `read` tools only read;
    `session` tools change only the calling client's session state; `state` tools run the product's and the
    checkout's own tooling and write only working files under `.diffusers-integrator/`; `execute` tools run
    code the agent wrote; `write` tools change the tree. `--read-only` lists only `read` and `session` tools;
    `execute` and `write` tools pass the gate (a write's `dry_run` excepted). A `background` tool's handler returns the work instead of the
    result (`work(progress) -> result`); the server runs it as a job, so its request carries `wait_s` and the
    client gets `JobResult[result_model]`.
    """

    name: str
    title: str
    request_model: type[BaseModel]
    result_model: type[BaseModel]
    handler: Handler
    access: Access
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False
    # Asks the human before the handler runs: ask(request) -> HumanForm. The handler then takes a fourth
    # argument, the interact.forms.HumanReply (see docs/human-in-the-loop.md).
    ask: Callable[[Any], HumanForm] | None = None
    background: bool = False

    @classmethod
    def of(cls, handler: Handler, title: str, access: Access, **options: Any) -> ToolSpec:
        """The spec of a handler named exactly as its tool, with the models its annotations name.

        A handler is `handler(session, request: XRequest, progress) -> XResult`; a background one returns
        `Callable[[ProgressFn], XResult]`, the work the server runs as a job.
        """
        hints = get_type_hints(handler)
        result = hints["return"]
        if options.get("background"):
            result = get_args(result)[-1]
        return cls(handler.__name__, title, hints["request"], result, handler, access, **options)

    @property
    def output_model(self) -> type[BaseModel]:
        """What the client receives: the result, or for background work the result or a job to poll."""
        return JobResult[self.result_model] if self.background else self.result_model  # type: ignore[name-defined]

    @property
    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.access == "read",
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )
