"""The MCP edge: maps tool names to core functions, and nothing else.

Each tool is declared once as a `ToolSpec` (name, input model, handler, what it may write). The server turns
the input model's fields into the tool's flat parameters, runs the handler in a worker thread (so blocking work
never stalls the protocol), turns an `IntegratorError` into a tool error whose message names the fix, and
applies the read-only switch and the approval gate. Start-up imports neither torch, diffusers nor anthropic.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from . import __version__
from .errors import IntegratorError
from .interact import answers, plan, questions
from .interact.mcp_bridge import REPLY_PARAMETER, reply_annotation, to_reply
from .jobs import DEFAULT_WAIT_S, JobResult, JobStatusInput, JobStatusResult, WaitSeconds, job_status
from .registry import SymbolSpec
from .server_skills import SkillsExtension, add_skill_channels
from .session import Access, IntegratorSession, ProgressFn, ServerOptions
from .skills import GetSkillRequest, ListSkillsResult, SkillFileContent, list_skills, read_skill_file
from .tooldocs import tool_description


logger = logging.getLogger(__name__)

Handler = Callable[[IntegratorSession, Any, ProgressFn], BaseModel]

INSTRUCTIONS = """\
diffusers-integrator helps you add a new model to a Hugging Face diffusers checkout.
Start with the `integrating-models` skill (prompt, skill:// resource, or the get_skill tool), then call
inspect_checkout. Ask the human for the reference repo, inference script and standard-vs-modular with
ask_user_question, and get the plan accepted with confirm_plan before any tool writes. Use scaffold for the
file structure and register_lazy_import for every init and dummy (never edit those by hand), check with
check_registration and make_quality, and prove numerical parity with run_parity (parity-testing skill).
Long tools return a job id: poll job_status."""


@dataclass(frozen=True)
class ToolSpec:
    """One MCP tool: its stable name, input model, handler and what it may touch."""

    name: str
    title: str
    input_model: type[BaseModel]
    result_model: type[BaseModel]
    handler: Handler
    access: Access
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False
    # Asks the human before the handler runs: ask(session, request) -> interact.forms.HumanForm. The handler
    # then takes a fourth argument, the interact.forms.HumanReply (see docs/human-in-the-loop.md).
    ask: Callable[[IntegratorSession, Any], Any] | None = None

    @property
    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.access == "read",
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )


# ---------------------------------------------------------------------------------------------- handlers


class NoArguments(BaseModel):
    """A tool that takes no arguments."""


def _inspect_checkout(session: IntegratorSession, request: NoArguments, progress: ProgressFn) -> BaseModel:
    from .survey import survey

    return survey(session.checkout())


class InspectCheckpointRequest(BaseModel):
    path: str = Field(
        description="A .safetensors / .bin / .pt file, a sharded `*.index.json`, or a folder of weights. Relative "
        "paths are taken from the checkout root; absolute paths may point anywhere (the file is only read)."
    )
    max_patterns: int = Field(default=150, ge=1, le=2000, description="Cap on folded key patterns returned.")


def _inspect_checkpoint(
    session: IntegratorSession, request: InspectCheckpointRequest, progress: ProgressFn
) -> BaseModel:
    from pathlib import Path

    from .weights import summarize_checkpoint

    path = Path(request.path).expanduser()
    if not path.is_absolute():
        path = session.checkout().root / path
    return summarize_checkpoint(path, max_patterns=request.max_patterns)


def _checkpoint_summary_model() -> type[BaseModel]:
    from .weights import CheckpointSummary

    return CheckpointSummary


def _convert_weights(session: IntegratorSession, request: Any, progress: ProgressFn) -> BaseModel:
    from .parity.convert_weights import convert_weights
    from .parity.convert_weights_schema import ConvertWeightsResult

    checkout = session.checkout()
    return session.jobs.run(
        "convert_weights",
        lambda report: convert_weights(checkout, request, report),
        wait_s=request.wait_s,
        progress=progress,
        result_model=ConvertWeightsResult,
    )


def _convert_weights_models() -> tuple[type[BaseModel], type[BaseModel]]:
    from .jobs import JobResult
    from .parity.convert_weights_schema import ConvertWeightsRequest, ConvertWeightsResult

    return ConvertWeightsRequest, JobResult[ConvertWeightsResult]


def _make_quality(session: IntegratorSession, request: Any, progress: ProgressFn) -> BaseModel:
    from .quality import QualityResult, run_quality

    if request.fix:
        session.ensure_may_write("make_quality")
    checkout = session.checkout()
    quality_request = request.request()
    return session.jobs.run(
        "make_quality",
        lambda report: run_quality(checkout, quality_request, report),
        wait_s=request.wait_s,
        progress=progress,
        result_model=QualityResult,
    )


def _quality_models() -> tuple[type[BaseModel], type[BaseModel]]:
    from .jobs import JobResult
    from .quality.models import MakeQualityInput, QualityResult

    return MakeQualityInput, JobResult[QualityResult]


def _scaffold(session: IntegratorSession, request: Any, progress: ProgressFn) -> BaseModel:
    from .scaffold import compact_result, scaffold

    checkout = session.checkout()
    return compact_result(checkout, scaffold(checkout, request, progress))


def _scaffold_models() -> tuple[type[BaseModel], type[BaseModel]]:
    from .scaffold.schema import ScaffoldRequest, ScaffoldResult

    return ScaffoldRequest, ScaffoldResult


class RunParityRequest(BaseModel):
    spec: str = Field(
        description="The parity spec file (Python with `reference()`, `candidate()`, `inputs()`; see the "
        "parity-testing skill), relative to the checkout root. Keep specs under `.diffusers-integrator/specs/`: "
        "parity harnesses never ship in src/, tests/ or scripts/."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="`auto` prefers CUDA. Component parity belongs on cpu (fp32)."
    )
    dtype: Literal["float32", "bfloat16", "float16"] | None = Field(
        default=None, description="Override the spec's dtype (default: fp32 on cpu, bf16 on cuda)."
    )
    localize: bool = Field(default=True, description="Hook aligned modules to find the first divergent one.")
    timeout_s: float = Field(default=900, gt=0, le=6 * 3600, description="Wall-clock limit of the child process.")
    host: str | None = Field(
        default=None, description="Run on a remote GPU host over SSH: `user@host[:port]` (key auth)."
    )
    wait_s: WaitSeconds = DEFAULT_WAIT_S


SHIPPED_DIRS = ("src", "tests", "scripts", "docs", "examples", "utils")


def _run_parity(session: IntegratorSession, request: RunParityRequest, progress: ProgressFn) -> BaseModel:
    import time

    from .parity import ParityReport
    from .parity.runner import run_spec

    checkout = session.checkout()
    spec = checkout.resolve(request.spec)
    if not spec.is_file():
        raise IntegratorError(f"No parity spec at {request.spec}.", "Write it under .diffusers-integrator/specs/.")
    top = spec.relative_to(checkout.root).parts[0]
    if top in SHIPPED_DIRS:
        raise IntegratorError(
            f"{request.spec} is inside `{top}/`, which ships with the PR; upstream review rejects parity harnesses.",
            f"Move it to .diffusers-integrator/specs/{spec.name} and run that.",
        )
    out_dir = checkout.state_dir / "reports" / f"{spec.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    return session.jobs.run(
        "run_parity",
        lambda report: run_spec(
            spec,
            out_dir,
            device=request.device,
            timeout_s=request.timeout_s,
            localize=request.localize,
            progress=report,
            dtype=request.dtype,
            host=request.host,
        ),
        wait_s=request.wait_s,
        progress=progress,
        result_model=ParityReport,
    )


def _parity_result_model() -> type[BaseModel]:
    from .parity import ParityReport

    return JobResult[ParityReport]


# Diffs of a big init can run to thousands of lines; the agent needs the gist, the file has the rest.
MAX_DIFF_CHARS = 6000


class RegisterRequest(BaseModel):
    symbols: list[SymbolSpec] = Field(
        min_length=1,
        description="The names to register. `module` is dotted (`diffusers.models.transformers.transformer_foo`) "
        "or a path in the tree; `export` (default true) adds the name to the top-level `diffusers` namespace, false "
        "registers it only in its sub-package init.",
    )
    backends: list[str] | None = Field(
        default=None,
        description='Backends for every symbol without its own, e.g. `["torch", "transformers"]`; default: '
        "inferred from where each module lives and what it imports.",
    )
    dry_run: bool = Field(default=False, description="Return the diffs without writing (needs no approved plan).")


class UnregisterRequest(BaseModel):
    names: list[str] = Field(description="Public names to remove from every init and dummy file.")
    dry_run: bool = Field(default=False, description="Return the diffs without writing (needs no approved plan).")


class CheckRegistrationRequest(BaseModel):
    names: list[str] | None = Field(default=None, description="Only findings about these names (default: all).")
    max_findings: int = Field(default=50, ge=1, le=500, description="Cap on findings returned (errors first).")


def _registry_model(name: str) -> type[BaseModel]:
    from . import registry

    return getattr(registry, name)


def _capped(result: Any) -> BaseModel:
    for change in result.changes:
        if len(change.diff) > MAX_DIFF_CHARS:
            change.diff = change.diff[:MAX_DIFF_CHARS] + f"\n... diff cut at {MAX_DIFF_CHARS} characters ...\n"
    return result


def _register(session: IntegratorSession, request: RegisterRequest, progress: ProgressFn) -> BaseModel:
    from .registry import register_names

    return _capped(register_names(session.checkout(), request.symbols, request.backends, dry_run=request.dry_run))


def _unregister(session: IntegratorSession, request: UnregisterRequest, progress: ProgressFn) -> BaseModel:
    from .registry import unregister_names

    return _capped(unregister_names(session.checkout(), request.names, dry_run=request.dry_run))


def _check_registration(
    session: IntegratorSession, request: CheckRegistrationRequest, progress: ProgressFn
) -> BaseModel:
    from .registry import check_registration

    return check_registration(session.checkout(), request.names, max_findings=request.max_findings)


def _list_skills(session: IntegratorSession, request: NoArguments, progress: ProgressFn) -> BaseModel:
    return list_skills()


def _get_skill(session: IntegratorSession, request: GetSkillRequest, progress: ProgressFn) -> BaseModel:
    return read_skill_file(request.name, request.path)


def _survey_model() -> type[BaseModel]:
    from .survey import CheckoutSurvey

    return CheckoutSurvey


def tool_specs() -> list[ToolSpec]:
    """Every tool the server offers, in the order `tools/list` shows them."""
    return [
        ToolSpec(
            "inspect_checkout",
            "Inspect the diffusers checkout",
            NoArguments,
            _survey_model(),
            _inspect_checkout,
            "read",
        ),
        ToolSpec(
            "ask_user_question",
            "Ask the human structured questions",
            questions.AskUserQuestionInput,
            questions.AskResult,
            questions.ask_user_question,  # type: ignore[arg-type]  # takes the human's reply too (ask=)
            "read",
            idempotent=False,
            ask=questions.ask,
        ),
        ToolSpec(
            "record_answer",
            "Record an answer given in chat",
            answers.RecordAnswerInput,
            answers.RecordAnswerResult,
            answers.record_answer,
            "session",
            idempotent=False,
        ),
        ToolSpec(
            "confirm_plan",
            "Get the integration plan approved",
            plan.IntegrationPlan,
            plan.ConfirmPlanResult,
            plan.confirm_plan,  # type: ignore[arg-type]  # takes the human's reply too (ask=)
            "session",
            idempotent=False,
            ask=plan.ask,
        ),
        ToolSpec("list_skills", "List the skills", NoArguments, ListSkillsResult, _list_skills, "read"),
        ToolSpec("get_skill", "Read a skill file", GetSkillRequest, SkillFileContent, _get_skill, "read"),
        ToolSpec("scaffold", "Scaffold a new integration", *_scaffold_models(), _scaffold, "write"),
        ToolSpec(
            "register_lazy_import",
            "Register public names",
            RegisterRequest,
            _registry_model("RegistrationResult"),
            _register,
            "write",
        ),
        ToolSpec(
            "unregister_lazy_import",
            "Unregister public names",
            UnregisterRequest,
            _registry_model("RegistrationResult"),
            _unregister,
            "write",
            destructive=True,
        ),
        ToolSpec(
            "check_registration",
            "Check registrations",
            CheckRegistrationRequest,
            _registry_model("RegistrationReport"),
            _check_registration,
            "read",
        ),
        ToolSpec(
            "make_quality",
            "Run the quality gates",
            *_quality_models(),
            _make_quality,
            # Checking writes only its log under .diffusers-integrator/; fix=true passes the write gate itself.
            "session",
            destructive=True,
        ),
        ToolSpec(
            "run_parity",
            "Run a parity spec",
            RunParityRequest,
            _parity_result_model(),
            _run_parity,
            "session",
            idempotent=False,
            open_world=True,
        ),
        ToolSpec(
            "inspect_checkpoint",
            "Inspect a checkpoint file",
            InspectCheckpointRequest,
            _checkpoint_summary_model(),
            _inspect_checkpoint,
            "read",
        ),
        ToolSpec(
            "convert_weights",
            "Convert reference weights",
            *_convert_weights_models(),
            _convert_weights,
            # Writes only converted weights under .diffusers-integrator/weights/ (never shipped): no approval gate.
            "session",
        ),
        ToolSpec("job_status", "Background job status", JobStatusInput, JobStatusResult, job_status, "read"),
    ]


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
        server.add_tool(
            _tool_function(spec, session),
            name=spec.name,
            title=spec.title,
            description=tool_description(spec.name),
            annotations=spec.annotations,
        )

    @server.resource(
        plan.PLAN_RESOURCE,
        name="approved-plan",
        title="The approved integration plan",
        description="The plan the human accepted with confirm_plan in this session (or what is missing).",
        mime_type="application/json",
    )
    def approved_plan() -> str:
        return json.dumps(session.approvals.approved_view(), indent=2)

    server.integrator_session = session  # type: ignore[attr-defined]  # for tests and in-process callers
    return server


def _tool_function(spec: ToolSpec, session: IntegratorSession) -> Callable[..., Any]:
    """An async function whose flat parameters are the input model's fields (so the schema is flat)."""

    async def call(ctx: Context, **arguments: Any) -> Any:
        elicited = arguments.pop(REPLY_PARAMETER, None)  # filled by the SDK when the tool asks the human
        # Every call lands in the session trace, refused and failed ones included.
        with session.traces.call(spec.name, spec.access, arguments, ctx.protocol_version) as traced:
            request = _validate(spec.input_model, arguments)
            # A dry run only shows diffs, so it needs no approved plan; anything else that writes passes the gate.
            if spec.access == "write" and not getattr(request, "dry_run", False):
                _guard(session.ensure_may_write, spec.name)
            progress = _progress_bridge(ctx)
            reply = (_guard(to_reply, elicited),) if spec.ask is not None else ()
            run = functools.partial(_guard, spec.handler, session, request, progress, *reply)
            traced.result = await anyio.to_thread.run_sync(run)
            return traced.result

    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    annotations: dict[str, Any] = {"ctx": Context}
    for field_name, field in spec.input_model.model_fields.items():
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
        annotation = reply_annotation(spec.name, session, spec.input_model, spec.ask)
        parameters.append(inspect.Parameter(REPLY_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
        annotations[REPLY_PARAMETER] = annotation
    annotations["return"] = spec.result_model
    call.__signature__ = inspect.Signature(parameters, return_annotation=spec.result_model)  # type: ignore[attr-defined]
    call.__annotations__ = annotations
    call.__name__ = spec.name
    call.__doc__ = tool_description(spec.name)
    return call


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
