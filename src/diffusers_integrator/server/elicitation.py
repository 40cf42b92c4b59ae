"""Asks the human through MCP elicitation with the SDK's resolver pattern (the server's `app` wires it in).

How it works on each protocol generation. The tool function gets one extra parameter,
`Annotated[ElicitationResult[Any], Resolve(resolver)]`, which the SDK fills before the tool body runs and
leaves out of the tool's input schema. The resolver takes the tool's own arguments by name (the SDK passes
validated arguments to resolvers), builds the form from them, and returns `Elicit(message, schema)`:

* 2026-07-28: the SDK answers the first `tools/call` with an `InputRequiredResult` carrying the form, and
  runs the body when the client retries with the human's response. The resolver runs again on that round;
  the form is a pure function of the arguments, so it renders identically (the SDK pins the answer to the
  digest of the rendered question and would otherwise ask again).
* handshake versions (<= 2025-11-25): the SDK sends `elicitation/create` mid-call (`ctx.elicit`).

When the client did not declare form elicitation, the SDK would raise MCPError -32021 (missing capability)
as a protocol error before the body runs, where no tool code can turn it into a useful result. So the
resolver checks the capability first, with the SDK's own rule, and returns a plain "unavailable" value; the
body then returns the structured "ask the human yourself, then call record_answer" result.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.elicitation import AcceptedElicitation, CancelledElicitation, DeclinedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, ValidationError

from ..errors import IntegratorError
from ..interact.forms import HumanForm, HumanReply


# The parameter the SDK fills with the human's reply; not an input field of any tool.
REPLY_PARAMETER = "elicited_reply"
# First protocol version that carries elicitation inside an input-required result (no back-channel needed).
INPUT_REQUIRED_VERSION = "2026-07-28"

Asker = Callable[[Any], HumanForm]


class _Unavailable:
    """The resolver's answer when the client cannot show a form."""


class _Deferred:
    """A failure found while building the form: the tool body reports it, inside its traced call."""

    def __init__(self, error: IntegratorError | None = None):
        self.error = error


UNAVAILABLE = _Unavailable()


def can_elicit_form(ctx: Context) -> bool:
    """Whether this client can be shown a form now (the SDK's capability rule, plus a usable channel).

    A bare `elicitation: {}` (declared before modes existed) counts as form support; URL-only does not.
    On handshake versions the request travels on the back-channel, which a stateless transport lacks.
    """
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION):
        return True
    return bool(ctx.session.can_send_request)


def reply_annotation(tool: str, request_model: type[BaseModel], ask: Asker) -> Any:
    """The annotation of the extra tool parameter through which the SDK asks the human."""

    async def resolver(ctx: Context, **arguments: Any) -> Any:
        try:
            request = request_model.model_validate(arguments)
        except ValidationError:
            return _Deferred()  # the body validates again and reports the error to the model
        if not can_elicit_form(ctx):
            return UNAVAILABLE
        try:
            form = ask(request)
        except IntegratorError as error:
            return _Deferred(error)
        return Elicit(form.message, form.schema)

    # The SDK hands a resolver the tool arguments its parameters name: name them all.
    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in request_model.model_fields]
    resolver.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    resolver.__annotations__ = {"ctx": Context}
    # The wire key of the question is the resolver's module:qualname; make it name the tool, stable everywhere.
    resolver.__qualname__ = resolver.__name__ = f"ask_{tool}"
    return Annotated[ElicitationResult[Any], Resolve(resolver)]


def to_reply(outcome: Any) -> HumanReply:
    """The SDK's elicitation outcome as the core's `HumanReply`; raises a deferred form-building failure."""
    if isinstance(outcome, AcceptedElicitation):
        data = outcome.data
        if isinstance(data, _Unavailable):
            return HumanReply.unavailable()
        if isinstance(data, _Deferred):
            if data.error is not None:
                raise data.error
            return HumanReply.unavailable()
        return HumanReply("accept", data)
    if isinstance(outcome, DeclinedElicitation):
        return HumanReply("decline")
    if isinstance(outcome, CancelledElicitation):
        return HumanReply("cancel")
    return HumanReply.unavailable()
