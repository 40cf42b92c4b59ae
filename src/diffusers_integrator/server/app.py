"""The MCP server: wires every tool of `server/tools/` the same way, plus skills and the approved-plan resource.

Each tool is declared once, in its own module, as a `ToolSpec` (name, models, handler, what it may touch). This
module turns the request model's fields into the tool's flat parameters, runs the handler in a worker thread
(so blocking work never stalls the protocol), applies the read-only switch and the approval gate for the
calling client (`clients.py`), and holds every answer to the same rules: an error names the field or the fix
(an `IntegratorError`'s message, or a plain sentence for anything unexpected, never a bare "Error executing
tool"), oversized arguments are refused before any work, echoes and results are bounded, and nothing the
client receives or the log prints carries a secret (`redact.py`). Start-up imports neither torch, diffusers
nor anthropic, nor what only a call needs: tools are listed from a manifest (`manifest.py`), the session's
parts are built on first use (`session.py`), and the skill resources, prompts and the plan resource are registered
when a client first lists or reads resources or prompts (`IntegratorServer.register_on_first_use`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import BaseModel, Field, ValidationError

from .. import __version__
from ..errors import IntegratorError
from ..redact import Scrubber, scrub_log_handlers, scrub_text
from .clients import LOCAL_CLIENT, client_of, serving
from .descriptions import tool_description
from .manifest import LazyToolManager, load_manifest, write_manifest
from .session import GATED_ACCESS, READ_ONLY_ACCESS, IntegratorSession, ServerOptions
from .skills import SkillsExtension, add_skill_channels


if TYPE_CHECKING:
    from ..progress import ProgressFn
    from .spec import ToolSpec


logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
diffusers-integrator helps you add a new model to a Hugging Face diffusers checkout.
Start with the `integrating-models` skill (prompt, skill:// resource, or the get_skill tool), then call
inspect_checkout. Ask the human for the reference repo, inference script and standard-vs-modular with
ask_user_question, and get the plan accepted with confirm_plan before any tool writes. Use scaffold for the
file structure and register_lazy_import for every init and dummy (never edit those by hand), check with
check_registration and make_quality, and prove numerical parity with run_parity (parity-testing skill).
Long tools return a job id: poll job_status."""


# Bounds on what a call may send and get back. No argument of any tool is legitimately longer than a few
# thousand characters (they are names, paths, rules, short notes); results stay well under what clients accept
# (Claude Code refuses results over ~25k tokens).
MAX_VALUE_CHARS = 20_000
MAX_ARGUMENTS_CHARS = 500_000
MAX_RESULT_CHARS = 100_000
MAX_ERROR_CHARS = 4_000
MAX_ECHO_CHARS = 200


# ---------------------------------------------------------------------------------------------- wiring


class IntegratorServer(MCPServer):
    """MCPServer whose resource reads know their client (so `plan://current` shows that client's plan), and whose
    own tool errors (arguments that fail the schema, an unknown tool) obey the same rules as the tools': they
    name the field or the fix, never echo the caller's value, and carry no secret.

    Resources and prompts that cost start-up time are registered on first use: before the first listing or read
    of resources, resource templates or prompts, in the order they were deferred."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[Callable[[], None]] = []
        self._deferred_lock = threading.Lock()

    def register_on_first_use(self, register: Callable[[], None]) -> None:
        """Runs `register` (which adds resources, templates or prompts) when a client first needs them."""
        self._deferred.append(register)

    def _register_deferred(self) -> None:
        with self._deferred_lock:
            while self._deferred:
                self._deferred[0]()
                self._deferred.pop(0)

    async def list_resources(self) -> Any:
        self._register_deferred()
        return await super().list_resources()

    async def list_resource_templates(self) -> Any:
        self._register_deferred()
        return await super().list_resource_templates()

    async def read_resource(self, uri: Any, context: Context | None = None) -> Any:
        self._register_deferred()
        with serving(client_of(context) if context is not None else LOCAL_CLIENT):
            return await super().read_resource(uri, context)

    async def list_prompts(self) -> Any:
        self._register_deferred()
        return await super().list_prompts()

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        self._register_deferred()
        return await super().get_prompt(name, arguments, context)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as error:  # the SDK's own crash (e.g. output conversion): a bug of ours
            logger.error("%s failed in the SDK", _cut(name), exc_info=error.__cause__ or error)
            cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
            raise ToolError(f"Error executing tool {_cut(name)}: {_unexpected(_cut(name), cause)}") from None
        except ToolError as error:
            cause = error.__cause__
            if isinstance(cause, ValidationError):  # the SDK checked the arguments against the input schema
                message = _validation_message(cause)
            elif str(error).startswith("Unknown tool"):
                message = (
                    f"Unknown tool: {_cut(name)}. Call tools/list for the tools this server offers (a server "
                    "started with --read-only offers none that writes, runs code or leaves files)."
                )
                raise ToolError(scrub_text(message)) from None
            else:
                raise ToolError(_bounded(scrub_text(str(error)))) from cause
            raise ToolError(f"Error executing tool {_cut(name)}: {scrub_text(message)}") from cause


def build_server(options: ServerOptions | None = None) -> MCPServer:
    """The MCP server: one per process; each of its clients keeps its own approvals."""
    options = options or ServerOptions()
    session = IntegratorSession(options)
    server = IntegratorServer(
        name="diffusers-integrator",
        title="diffusers integrator",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://github.com/huggingface/diffusers",
        log_level="DEBUG" if logger.isEnabledFor(logging.DEBUG) else "WARNING",
        extensions=[SkillsExtension()],
    )
    scrub_log_handlers()  # after MCPServer, which may add its own handler
    # Reading every skill file and building a prompt per skill (and the plan's models) waits for a client that asks.
    server.register_on_first_use(functools.partial(add_skill_channels, server))
    server.register_on_first_use(functools.partial(_add_plan_resource, server, session))
    _add_tools(server, session, options)
    server.integrator_session = session  # type: ignore[attr-defined]  # for tests and in-process callers
    return server


def _add_plan_resource(server: MCPServer, session: IntegratorSession) -> None:
    from ..interact.plan import PLAN_RESOURCE

    @server.resource(
        PLAN_RESOURCE,
        name="approved-plan",
        title="The approved integration plan",
        description="The plan the human accepted with confirm_plan in this session (or what is missing).",
        mime_type="application/json",
    )
    def approved_plan() -> str:
        return json.dumps(session.approvals.approved_view(), indent=2)


def add_tool(server: MCPServer, spec: ToolSpec, session: IntegratorSession, description: str | None = None) -> None:
    """Wires one tool: flat parameters, the gate, the trace, errors as tool errors (tests add their own tools)."""
    server.add_tool(
        _tool_function(spec, session, description or tool_description(spec.name)),
        name=spec.name,
        title=spec.title,
        description=description or tool_description(spec.name),
        annotations=spec.annotations,
    )


def _add_tools(server: MCPServer, session: IntegratorSession, options: ServerOptions) -> None:
    """Every tool of `server/tools/`: listed from the manifest of this code and built on first use when there is
    one (start-up then imports no tool module), else built now and the manifest written (`manifest.py`)."""
    manager = LazyToolManager(server._tool_manager.warn_on_duplicate_tools)
    server._tool_manager = manager
    entries = load_manifest()
    # --read-only lists no tool that writes, runs code or leaves files beyond the trace (docs/security.md).
    if entries is not None:
        for entry in entries:
            if not options.read_only or entry.access in READ_ONLY_ACCESS:
                manager.add_lazy(entry.listed, functools.partial(_build_lazily, entry.module, session))
        return
    from .tools import tool_specs

    built = [(spec.handler.__module__, spec.access, _build_tool(spec, session)) for spec in tool_specs()]
    for _, access, tool in built:
        if not options.read_only or access in READ_ONLY_ACCESS:
            manager.add_built(tool)
    write_manifest(built)


def _build_tool(spec: ToolSpec, session: IntegratorSession) -> Tool:
    """The tool exactly as `MCPServer.add_tool` builds it."""
    description = tool_description(spec.name)
    function = _tool_function(spec, session, description)
    return Tool.from_function(
        function, name=spec.name, title=spec.title, description=description, annotations=spec.annotations
    )


def _build_lazily(module: str, session: IntegratorSession) -> Tool:
    return _build_tool(importlib.import_module(module).SPEC, session)


def _tool_function(spec: ToolSpec, session: IntegratorSession, description: str) -> Callable[..., Any]:
    """An async function whose flat parameters are the input model's fields (so the schema is flat)."""
    from .elicitation import REPLY_PARAMETER, reply_annotation, to_reply  # a tool is built on first use

    async def call(ctx: Context, **arguments: Any) -> Any:
        elicited = arguments.pop(REPLY_PARAMETER, None)  # filled by the SDK when the tool asks the human
        # Every call lands in the session trace, refused and failed ones included; it serves one client.
        with (
            serving(client_of(ctx)),
            session.traces.call(spec.name, spec.access, arguments, ctx.protocol_version) as traced,
        ):
            _check_sizes(arguments)
            request = _validate(spec.request_model, arguments)
            # A dry run only shows diffs, so it needs no approved plan; anything else that writes to the tree or
            # runs the agent's code passes the gate.
            if spec.access in GATED_ACCESS and not getattr(request, "dry_run", False):
                _guard(spec.name, session.ensure_may_write, spec.name, spec.access)
            progress = _progress_bridge(ctx)
            reply = (_guard(spec.name, to_reply, elicited),) if spec.ask is not None else ()
            run = functools.partial(_guard, spec.name, _handle, spec, session, request, progress, *reply)
            traced.result = _deliverable(spec, await anyio.to_thread.run_sync(run))
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


def _guard(tool: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Runs core code; every failure becomes a tool error the model can act on, scrubbed and bounded."""
    try:
        return fn(*args)
    except ToolError as error:
        raise ToolError(_bounded(scrub_text(str(error)))) from None
    except IntegratorError as error:
        raise ToolError(_bounded(scrub_text(error.problem), scrub_text(error.fix or ""))) from None
    except Exception as error:  # noqa: BLE001 - a bug or an environment fault: still an answer with a way forward
        logger.error("%s failed unexpectedly", tool, exc_info=True)  # the log handlers scrub it
        raise ToolError(_bounded(scrub_text(_unexpected(tool, error)))) from None


def _unexpected(tool: str, error: Exception) -> str:
    """The message of a failure no core code anticipated: what happened, and what to do about it."""
    if isinstance(error, OSError) and error.strerror:
        name = _cut(str(error.filename)) if error.filename else "a path"
        return (
            f"`{tool}` could not use {name}: {error.strerror}. Check the path arguments (a real, readable file of "
            "a sensible length, relative to the checkout root); if they are right, report this as a bug in "
            "diffusers-integrator."
        )
    return (
        f"`{tool}` failed unexpectedly ({type(error).__name__}: {_cut(str(error))}). Check the arguments against "
        "the tool's description and retry; if they are right, this is a bug in diffusers-integrator: report it "
        "with the session trace (.diffusers-integrator/sessions/)."
    )


def _cut(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """An echo of caller input, cut so a huge value never comes back whole."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _bounded(problem: str, fix: str = "") -> str:
    """An error message within MAX_ERROR_CHARS: the problem is cut if it must be (it may echo input), never
    the fix."""
    fix = fix[: MAX_ERROR_CHARS // 2]
    room = MAX_ERROR_CHARS - len(fix) - 1
    if len(problem) > room:
        problem = problem[: room - 50] + f" ... (cut: {len(problem):,} characters in all)"
    return f"{problem} {fix}" if fix else problem


def _check_sizes(arguments: dict[str, Any]) -> None:
    """Refuses oversized arguments before any work, naming the field (no argument is legitimately long)."""

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            raise ToolError(
                f"Invalid arguments: `{where}` is {len(value):,} characters long; no argument may be longer than "
                f"{MAX_VALUE_CHARS:,}. Pass a name, a path or a short note, not file contents."
            )
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")

    walk(arguments, "")
    size = len(json.dumps(arguments, default=repr))
    if size > MAX_ARGUMENTS_CHARS:
        largest = max(arguments, key=lambda key: len(json.dumps(arguments[key], default=repr)))
        raise ToolError(
            f"Invalid arguments: {size:,} characters in all (most in `{largest}`), over the limit of "
            f"{MAX_ARGUMENTS_CHARS:,}. Split the work into smaller calls."
        )


def _deliverable(spec: ToolSpec, result: BaseModel) -> BaseModel:
    """The result as the client may see it: scrubbed of secrets and within the size clients accept."""
    data = result.model_dump(mode="json", by_alias=True)
    scrubbed = Scrubber().data(data)
    if scrubbed != data:
        try:
            result = spec.output_model.model_validate(scrubbed)
        except ValidationError:
            raise ToolError(
                f"`{spec.name}`'s result held a secret (a value of a secret environment variable, or a key-shaped "
                "string) that could not be removed cleanly, so it was withheld. Keep secrets out of the arguments "
                "and the files the tool reads, then retry."
            ) from None
    size = len(result.model_dump_json(by_alias=True))
    if size > MAX_RESULT_CHARS:
        raise ToolError(
            f"`{spec.name}`'s result is {size:,} characters, more than the {MAX_RESULT_CHARS:,} a client accepts. "
            "Ask for less: a smaller max_* argument, fewer names or paths, or a narrower scope."
        )
    return result


def _validate(model: type[BaseModel], arguments: dict[str, Any]) -> BaseModel:
    """The input model's own validators run too (cross-field rules the JSON schema cannot say); the message names
    each bad field and never echoes its (possibly huge) value."""
    try:
        return model.model_validate(arguments)
    except ValidationError as error:
        raise ToolError(_validation_message(error)) from None


def _validation_message(error: ValidationError) -> str:
    """Each bad field and what is wrong with it, without the value (it may be huge, or a secret)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False, include_context=False)[:10]:
        where = ".".join(str(part) for part in item["loc"] if part != "arguments" or len(item["loc"]) == 1)
        problems.append(f"`{_cut(where or 'arguments', 100)}`: {_cut(item['msg'], 600)}")
    more = f" (and {error.error_count() - 10} more)" if error.error_count() > 10 else ""
    return (
        "Invalid arguments: " + "; ".join(problems) + more + ". Fix the named field(s) as the tool's input schema "
        "describes."
    )


def _progress_bridge(ctx: Context) -> ProgressFn:
    """Lets a handler running in a worker thread send MCP progress notifications."""
    import anyio.from_thread

    def report(done: float, total: float | None = None, message: str | None = None) -> None:
        try:
            anyio.from_thread.run(ctx.report_progress, done, total, message)
        except Exception:  # progress is best effort: a gone client must not fail the work
            logger.debug("progress notification dropped", exc_info=True)

    return report
