"""The MCP server: wires every tool of `server/tools/` the same way, plus skills and the approved-plan resource.

Each tool is declared once, in its own module, as a `ToolSpec` (name, models, handler, what it may write). This
module turns the request model's fields into the tool's flat parameters, runs the handler in a worker thread
(so blocking work never stalls the protocol), turns an `IntegratorError` into a tool error whose message names
the fix, and applies the read-only switch and the approval gate. Start-up imports neither torch, diffusers nor
anthropic.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field, ValidationError

from .. import __version__
from ..errors import IntegratorError
from ..interact.plan import PLAN_RESOURCE
from ..progress import ProgressFn
from .descriptions import tool_description
from .elicitation import REPLY_PARAMETER, reply_annotation, to_reply
from .session import IntegratorSession, ServerOptions
from .skills import SkillsExtension, add_skill_channels
from .spec import ToolSpec
from .tools import tool_specs


logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
diffusers-integrator helps you add a new model to a Hugging Face diffusers checkout.
Start with the `integrating-models` skill (prompt, skill:// resource, or the get_skill tool), then call
inspect_checkout. Ask the human for the reference repo, inference script and standard-vs-modular with
ask_user_question, and get the plan accepted with confirm_plan before any tool writes. Use scaffold for the
file structure and register_lazy_import for every init and dummy (never edit those by hand), check with
check_registration and make_quality, and prove numerical parity with run_parity (parity-testing skill).
Long tools return a job id: poll job_status."""


# ---------------------------------------------------------------------------------------------- wiring


def build_server(options: ServerOptions | None = None) -> MCPServer:
    """The MCP server for one client session."""
    options = options or ServerOptions()
    session = IntegratorSession(options)
    server = MCPServer(
        name="diffusers-integrator",
        title="diffusers integrator",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://github.com/huggingface/diffusers",
        log_level="DEBUG" if logger.isEnabledFor(logging.DEBUG) else "WARNING",
        extensions=[SkillsExtension()],
    )
    add_skill_channels(server)
    for spec in tool_specs():
        if options.read_only and spec.access == "write":
            continue
        add_tool(server, spec, session)

    @server.resource(
        PLAN_RESOURCE,
        name="approved-plan",
        title="The approved integration plan",
        description="The plan the human accepted with confirm_plan in this session (or what is missing).",
        mime_type="application/json",
    )
    def approved_plan() -> str:
        return json.dumps(session.approvals.approved_view(), indent=2)

    server.integrator_session = session  # type: ignore[attr-defined]  # for tests and in-process callers
    return server


def add_tool(server: MCPServer, spec: ToolSpec, session: IntegratorSession, description: str | None = None) -> None:
    """Wires one tool: flat parameters, the gate, the trace, errors as tool errors (tests add their own tools)."""
    server.add_tool(
        _tool_function(spec, session, description or tool_description(spec.name)),
        name=spec.name,
        title=spec.title,
        description=description or tool_description(spec.name),
        annotations=spec.annotations,
    )


def _tool_function(spec: ToolSpec, session: IntegratorSession, description: str) -> Callable[..., Any]:
    """An async function whose flat parameters are the input model's fields (so the schema is flat)."""

    async def call(ctx: Context, **arguments: Any) -> Any:
        elicited = arguments.pop(REPLY_PARAMETER, None)  # filled by the SDK when the tool asks the human
        # Every call lands in the session trace, refused and failed ones included.
        with session.traces.call(spec.name, spec.access, arguments, ctx.protocol_version) as traced:
            request = _validate(spec.request_model, arguments)
            # A dry run only shows diffs, so it needs no approved plan; anything else that writes passes the gate.
            if spec.access == "write" and not getattr(request, "dry_run", False):
                _guard(session.ensure_may_write, spec.name)
            progress = _progress_bridge(ctx)
            reply = (_guard(to_reply, elicited),) if spec.ask is not None else ()
            run = functools.partial(_guard, _handle, spec, session, request, progress, *reply)
            traced.result = await anyio.to_thread.run_sync(run)
            return traced.result

    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    annotations: dict[str, Any] = {"ctx": Context}
    for field_name, field in spec.request_model.model_fields.items():
        schema_field = Field(
            description=field.description, title=field.title, json_schema_extra=field.json_schema_extra
        )
        annotation = Annotated[(field.annotation, *field.metadata, schema_field)]
        default = inspect.Parameter.empty if field.is_required() else field.get_default(call_default_factory=True)
        parameters.append(
            inspect.Parameter(field_name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        )
        annotations[field_name] = annotation
    if spec.ask is not None:
        # The SDK fills this parameter by eliciting (resolver pattern) and keeps it out of the input schema.
        annotation = reply_annotation(spec.name, spec.request_model, spec.ask)
        parameters.append(inspect.Parameter(REPLY_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
        annotations[REPLY_PARAMETER] = annotation
    annotations["return"] = spec.output_model
    call.__signature__ = inspect.Signature(parameters, return_annotation=spec.output_model)  # type: ignore[attr-defined]
    call.__annotations__ = annotations
    call.__name__ = spec.name
    call.__doc__ = description
    return call


def _handle(
    spec: ToolSpec, session: IntegratorSession, request: BaseModel, progress: ProgressFn, *reply: Any
) -> BaseModel:
    """Runs the handler; a background tool's work goes to the job registry, which waits up to `wait_s` for it."""
    outcome = spec.handler(session, request, progress, *reply)
    if not spec.background:
        return outcome
    wait_s = request.wait_s  # type: ignore[attr-defined]  # background requests carry it (see jobs.WaitSeconds)
    return session.jobs.run(spec.name, outcome, wait_s=wait_s, progress=progress, result_model=spec.result_model)


def _guard(fn: Callable[..., Any], *args: Any) -> Any:
    """Runs core code; anticipated failures become tool errors the model can act on."""
    try:
        return fn(*args)
    except IntegratorError as error:
        raise ToolError(str(error)) from None


def _validate(model: type[BaseModel], arguments: dict[str, Any]) -> BaseModel:
    """The input model's own validators run too (cross-field rules the JSON schema cannot say)."""
    try:
        return model.model_validate(arguments)
    except ValidationError as error:
        raise ToolError(f"Invalid arguments: {error}") from None


def _progress_bridge(ctx: Context) -> ProgressFn:
    """Lets a handler running in a worker thread send MCP progress notifications."""

    def report(done: float, total: float | None = None, message: str | None = None) -> None:
        try:
            anyio.from_thread.run(ctx.report_progress, done, total, message)
        except Exception:  # progress is best effort: a gone client must not fail the work
            logger.debug("progress notification dropped", exc_info=True)

    return report
