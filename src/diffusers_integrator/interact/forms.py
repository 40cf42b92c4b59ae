"""What a tool asks the human, and what came back, in terms that do not depend on the MCP SDK.

A tool that needs the human declares an asker: `ask(session, request) -> HumanForm`. The edge shows the form
(MCP elicitation) and hands the handler a `HumanReply`. `unavailable` means the client cannot show forms:
the handler must then return a structured "ask the human yourself" result, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel


@dataclass(frozen=True)
class HumanForm:
    """A message for the human and the model of the answer (flat primitive fields only, as MCP requires)."""

    message: str
    schema: type[BaseModel]


ReplyAction = Literal["accept", "decline", "cancel", "unavailable"]


@dataclass(frozen=True)
class HumanReply:
    """The human's answer to a `HumanForm`: `data` is an instance of its schema when `action == "accept"`."""

    action: ReplyAction
    data: BaseModel | None = None

    @classmethod
    def unavailable(cls) -> HumanReply:
        return cls("unavailable")
