"""`ToolSpec`: how one MCP tool is declared, so `app` can wire every tool the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_types import ToolAnnotations
from pydantic import BaseModel

from ..interact.forms import HumanForm
from .session import Access


# handler(session, request, progress[, reply]) -> result; runs in a worker thread.
Handler = Callable[..., BaseModel]


@dataclass(frozen=True)
class ToolSpec:
    """One MCP tool: its stable name, request and result models, handler and what it may touch.

    `access` drives the read-only switch and the approval gate: `read` tools never write, `session` tools
    write only session state or files under `.diffusers-integrator/`, `write` tools change the tree and pass
    the gate unless the request is a `dry_run`.
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

    @property
    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.access == "read",
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )
