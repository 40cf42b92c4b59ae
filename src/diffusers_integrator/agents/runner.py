"""The agent runner: a lead agent and its parity and review sub-agents on the Anthropic SDK's own tool loop.

One run, step by step:
1. `diffusers-integrator serve` starts on the checkout as a child process, connected over stdio by the MCP
   SDK's client, whose elicitation callback is the human (terminal or answers file, `humans.py`). All agents
   share that one client session, so the plan the human approves for the lead also opens the gate for the
   sub-agents' write tools.
2. Each agent is `client.beta.messages.tool_runner(...)` with its role's system prompt (`roles.py`) and tools:
   our server's tools through `anthropic.lib.tools.mcp.async_mcp_tool`, plus the runner's confined editor and
   test runner (`local_tools.py`). The lead also holds `delegate`, which runs a sub-agent to its end in a
   context of its own and returns the sub-agent's report as the tool result.
3. Long system prompts and the tool list carry `cache_control`, and so does the conversation (top level).
4. After every reply: tokens and dollars for its agent (`usage.py`), a line in the transcript, the run record
   rewritten, and the limits checked. A limit closes every running tool loop (the SDK's `close()`), so no
   further request goes out and no tool of the reply that crossed it runs; Ctrl-C cancels the run and the same
   clean-up keeps the record, the transcript, the server's trace and the cassette.
5. With `record`, every API exchange goes to a cassette as it happens; with `replay`, the cassette answers
   instead of the API and a request that differs fails with a diff (`cassette.py`).

Everything the run writes sits in the checkout's `.diffusers-integrator/agents/<run id>/` (scrubbed), beside
the server's session trace.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field

from .. import __version__
from ..checkout import Checkout
from ..errors import IntegratorError
from ..redact import Scrubber
from .cassette import (
    CURRENT_AGENT,
    Cassette,
    CassetteHeader,
    CassetteMismatch,
    CassetteWriter,
    Recorder,
    Redactor,
    ReplayTransport,
)
from .roles import DELEGATE, EDITOR, LEAD, ROLES, SUB_AGENTS, TESTS, VIEWER, Role
from .usage import AgentUsage, usage_table


DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_MAX_TURNS = 150
DEFAULT_BUDGET_USD = 25.0
MAX_TOKENS = 16_000
EPHEMERAL = {"type": "ephemeral"}
RUNS_DIR = "agents"
DEFAULT_PROMPT = "Integrate the model of this reference implementation into the diffusers checkout."
REPLAY_KEY = "cassette-replay-no-key"

StopReason = Literal["done", "max_turns", "budget", "interrupted", "mismatch", "error"]
Say = Callable[[str], None]


@dataclass
class RunOptions:
    """What `agent run` takes (and what the eval solver and the tests pass)."""

    checkout: Path
    reference: Path | None = None
    script: Path | None = None
    prompt: str | None = None
    model: str | None = None  # default: the cassette's on replay, else DEFAULT_MODEL
    max_turns: int = DEFAULT_MAX_TURNS
    budget_usd: float = DEFAULT_BUDGET_USD
    max_tokens: int = MAX_TOKENS
    answers: Path | None = None
    record: Path | None = None
    replay: Path | None = None
    case: str | None = None  # written in a recorded cassette's header
    human: Any = None  # an elicitation callback; default: the answers file, else the terminal
    say: Say = print
    transport: Any = None  # an httpx2 transport standing in for the API (a scripted API); default: the network
    scripted: str | None = None  # recording a scripted run: the note its cassette's header carries
    api_key: str | None = None  # default: $ANTHROPIC_API_KEY (never written anywhere)
    server_args: list[str] = field(default_factory=list)  # extra `serve` flags
    header_extra: dict[str, Any] = field(default_factory=dict)  # fields of a recorded cassette's header


class Delegation(BaseModel):
    agent: str
    task: str
    turns: int
    stopped: str | None = None
    report: str


class RunResult(BaseModel):
    """What a run did and where it left its records."""

    run_id: str
    model: str
    stop_reason: StopReason
    detail: str = ""
    final_text: str = ""
    turns: int = 0
    max_turns: int
    budget_usd: float
    cost_usd: float = 0.0
    agents: dict[str, AgentUsage] = Field(default_factory=dict)
    delegations: list[Delegation] = Field(default_factory=list)
    record: str
    transcript: str
    server_log: str
    session_trace: str | None = None
    cassette: str | None = None
    unplayed: int = Field(default=0, description="Recorded exchanges a replay did not reach.")
    started: float
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.stop_reason == "done" and self.unplayed == 0


class _Stop(Exception):
    """Ends the run from inside (a cassette mismatch, a missing key)."""


class Control:
    """The run's limits, shared by every agent: turns and dollars across all of them."""

    def __init__(self, max_turns: int, budget_usd: float):
        self.max_turns = max_turns
        self.budget_usd = budget_usd
        self.turns = 0
        self.cost = 0.0
        self.reason: StopReason | None = None
        self.detail = ""
        self.runners: list[Any] = []

    async def count(self, cost: float) -> None:
        self.turns += 1
        self.cost += cost
        if self.turns >= self.max_turns:
            await self.stop("max_turns", f"the turn limit ({self.max_turns} replies, all agents) was reached")
        elif self.cost >= self.budget_usd:
            await self.stop("budget", f"the budget (${self.budget_usd:.2f}) was spent: ${self.cost:.4f}")

    async def stop(self, reason: StopReason, detail: str) -> None:
        """Closes every running tool loop: each stops before its next request (the SDK's `close()`)."""
        if self.reason is None:
            self.reason, self.detail = reason, detail
        for runner in reversed(self.runners):
            await runner.close()


# ---------------------------------------------------------------------------------------------- entry points


def run(options: RunOptions) -> RunResult:
    """Runs the agents to the end, a limit or Ctrl-C; the result says which, and where the records are."""
    holder: dict[str, Any] = {}
    try:
        anyio.run(_run_into, options, holder)
    except KeyboardInterrupt:
        session = holder.get("session")
        if session is None:
            raise
        session.control.reason = session.control.reason or "interrupted"
        session.control.detail = session.control.detail or "stopped by Ctrl-C"
        session.finish()
    return holder["session"].result


async def _run_into(options: RunOptions, holder: dict[str, Any]) -> None:
    session = AgentSession(options)
    holder["session"] = session
    await session.run()


async def run_agents(options: RunOptions) -> RunResult:
    """The async form (for an event loop already running: the eval solver, tests)."""
    session = AgentSession(options)
    await session.run()
    return session.result


# ---------------------------------------------------------------------------------------------- a run


class AgentSession:
    """One run: the server connection, the agents, their ledger and records."""

    def __init__(self, options: RunOptions):
        self.options = options
        self.say = options.say
        self.checkout = Checkout.find(options.checkout)
        self.cassette = Cassette.load(options.replay) if options.replay else None
        header = self.cassette.header if self.cassette else None
        self.model = options.model or (header.model if header else DEFAULT_MODEL)
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
        self.folder = self.checkout.state_dir / RUNS_DIR / self.run_id
        self.folder.mkdir(parents=True, exist_ok=True)
        self.control = Control(options.max_turns, options.budget_usd)
        self.usage: dict[str, AgentUsage] = {}
        self.delegations: list[Delegation] = []
        self.final_text = ""
        self.scrubber = Scrubber()
        self.redactor = Redactor(
            {
                "<checkout>": self.checkout.root,
                "<reference>": options.reference,
                "<script>": options.script
                if options.script and not _inside(options.script, options.reference)
                else None,
                "<home>": Path.home(),
            }
        )
        self.writer: CassetteWriter | None = None
        self.replayer: ReplayTransport | None = None
        self.anthropic: Any = None
        self.mcp: Any = None
        self.tools: dict[str, list[Any]] = {}
        self.started = time.time()
        self.result = self._result()
        self._transcript = open(self.folder / "transcript.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    # ------------------------------------------------------------------ the whole run

    async def run(self) -> None:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp_types import Implementation

        from .local_tools import clean_environment

        self.say(
            f"agent run {self.run_id}: model {self.model}, at most {self.control.max_turns} replies and "
            f"${self.control.budget_usd:.2f}; records in {self.folder}"
        )
        try:
            self.anthropic = self._anthropic()
            command = [
                sys.executable,
                "-m",
                "diffusers_integrator.cli",
                "serve",
                "--checkout",
                str(self.checkout.root),
            ]
            # The server gets no API key or token: it never needs one.
            params = StdioServerParameters(
                command=command[0], args=[*command[1:], *self.options.server_args], env=clean_environment()
            )
            with open(self.folder / "server.log", "w", encoding="utf-8") as errlog:
                async with Client(
                    stdio_client(params, errlog=errlog),
                    elicitation_callback=self._human(),
                    client_info=Implementation(name="diffusers-integrator-agent", version=__version__),
                ) as client:
                    self.mcp = client
                    await self._build_tools(client)
                    outcome = await self.converse(LEAD, self._first_message(self.options.prompt))
                    self.final_text = outcome.text
            if self.control.reason is None:
                self.control.reason, self.control.detail = "done", "the lead agent finished"
        except CassetteMismatch as mismatch:
            self.control.reason, self.control.detail = "mismatch", str(mismatch)
        except _Stop as stop:
            self.control.reason, self.control.detail = "error", str(stop)
        except BaseException as error:
            mismatch = self.replayer.mismatch if self.replayer else None
            if mismatch is not None:  # the SDK wraps a transport's exception; the mismatch is what happened
                self.control.reason, self.control.detail = "mismatch", str(mismatch)
            elif isinstance(error, (KeyboardInterrupt, anyio.get_cancelled_exc_class())):
                self.control.reason = self.control.reason or "interrupted"
                self.control.detail = self.control.detail or "stopped by Ctrl-C"
                self.finish()
                raise
            elif isinstance(error, Exception):
                self.control.reason = "error"
                self.control.detail = f"{type(error).__name__}: {self.scrubber.text(str(error))}"
            else:
                raise
        self.finish()

    def _anthropic(self) -> Any:
        import httpx2
        from anthropic import AsyncAnthropic, DefaultAsyncHttpxClient

        options = self.options
        hooks: dict[str, list[Any]] = {}
        if options.record:
            header = CassetteHeader(
                scripted=options.scripted is not None,
                note=options.scripted
                or "Recorded from the Anthropic API by `diffusers-integrator agent run --record`.",
                model=self.model,
                case=options.case,
                prompt=options.prompt,
                reference=self.redactor.hide(str(options.reference)) if options.reference else None,
                script=self.redactor.hide(str(options.script)) if options.script else None,
            ).model_copy(update=options.header_extra)
            self.writer = CassetteWriter(options.record, header)
            hooks["response"] = [Recorder(self.writer, self.redactor)]
        if self.cassette is not None:
            self.replayer = ReplayTransport(self.cassette, self.redactor)
            http = httpx2.AsyncClient(transport=self.replayer, event_hooks=hooks)
            return AsyncAnthropic(api_key=REPLAY_KEY, http_client=http, max_retries=0)
        key = options.api_key or os.environ.get("ANTHROPIC_API_KEY")
        if options.transport is not None:
            http = httpx2.AsyncClient(transport=options.transport, event_hooks=hooks, timeout=600)
            return AsyncAnthropic(api_key=key or "scripted-no-key", http_client=http, max_retries=0)
        if not key:
            raise _Stop(
                "A live run needs an Anthropic API key, and ANTHROPIC_API_KEY is not set. Export it (it is never "
                "written to a record, log or cassette), or replay a cassette with --replay."
            )
        return AsyncAnthropic(api_key=key, http_client=DefaultAsyncHttpxClient(event_hooks=hooks))

    def _human(self) -> Any:
        from .humans import Answers, AnswersHuman, TerminalHuman

        if self.options.human is not None:
            return self.options.human
        if self.options.answers is not None:
            return AnswersHuman(Answers.load(self.options.answers), self.say)
        return TerminalHuman(self.say)

    async def _build_tools(self, client: Any) -> None:
        from anthropic.lib.tools.mcp import async_mcp_tool

        from .local_tools import ConfinedEditor, PlanGate, make_test_runner

        offered = {tool.name: tool for tool in (await client.list_tools()).tools}
        gate = PlanGate(client)
        readable = [path for path in (self.options.reference, self.options.script) if path]
        for role in ROLES.values():
            names = [name for name in role.tools if name in offered]
            # One cache breakpoint on the last tool: the whole tool list is cached with the system prompt.
            last = len(names) + len(role.local) - 1
            tools: list[Any] = [
                async_mcp_tool(offered[name], client, cache_control=EPHEMERAL if index == last else None)
                for index, name in enumerate(names)
            ]
            for index, local in enumerate(role.local, len(names)):
                cache = EPHEMERAL if index == last else None
                if local in (EDITOR, VIEWER):
                    tools.append(ConfinedEditor(self.checkout, gate if local == EDITOR else None, readable, cache))
                elif local == TESTS:
                    tools.append(make_test_runner(self.checkout, gate, cache))
                elif local == DELEGATE:
                    tools.append(self._delegate_tool(cache))
            self.tools[role.name] = [self._watched(role, tool) for tool in tools]

    # ------------------------------------------------------------------ one agent's conversation

    async def converse(self, role: Role, task: str) -> _Outcome:
        """Runs one agent's tool loop to its end (or a limit); returns its last words."""
        self.usage.setdefault(role.name, AgentUsage())
        runner = self.anthropic.beta.messages.tool_runner(
            model=self.model,
            max_tokens=self.options.max_tokens,
            system=[{"type": "text", "text": role.system_prompt(), "cache_control": EPHEMERAL}],
            tools=self.tools[role.name],
            messages=[{"role": "user", "content": task}],
            cache_control=EPHEMERAL,
        )
        token = CURRENT_AGENT.set(role.name)
        self.control.runners.append(runner)
        outcome = _Outcome()
        try:
            async for message in runner:
                outcome.turns += 1
                outcome.text = (
                    "\n".join(block.text for block in message.content if block.type == "text") or outcome.text
                )
                cost = self.usage[role.name].add(message.usage, self.model)
                self._log(role, message)
                await self.control.count(cost)
                self.write_record()
                if self.control.reason is not None:
                    break
        except Exception:
            mismatch = self.replayer.mismatch if self.replayer is not None else None
            if mismatch is None:
                raise
            # Every loop stops here: the lead must not go on past a request the cassette does not hold.
            await self.control.stop("mismatch", str(mismatch))
            raise mismatch from None
        finally:
            self.control.runners.remove(runner)
            CURRENT_AGENT.reset(token)
        if self.replayer is not None and self.replayer.mismatch is not None:
            raise self.replayer.mismatch
        return outcome

    def _delegate_tool(self, cache_control: dict[str, str] | None) -> Any:
        from anthropic.lib.tools import ToolError, beta_async_tool

        described = "\n".join(f"- `{name}`: {ROLES[name].description}" for name in SUB_AGENTS)
        schema = {
            "type": "object",
            "properties": {
                "agent": {
                    "type": "string",
                    "enum": list(SUB_AGENTS),
                    "description": "The sub-agent to hand the task to.",
                },
                "task": {
                    "type": "string",
                    "description": "A self-contained task: the sub-agent sees nothing of your conversation. Name "
                    "the model's classes and files, the reference paths, and the criteria from the approved plan.",
                },
            },
            "required": ["agent", "task"],
        }

        async def delegate(agent: str, task: str) -> str:
            if agent not in SUB_AGENTS:
                raise ToolError(f"No sub-agent {agent!r}: use one of {', '.join(SUB_AGENTS)}.")
            self.say(f"[lead] delegates to {agent}: {_clip(task, 200)}")
            try:
                outcome = await self.converse(ROLES[agent], self._first_message(task))
            except CassetteMismatch as mismatch:  # every loop is closed already; the run reports it at the end
                raise ToolError(f"The {agent} agent's request is not in the cassette.") from mismatch
            stopped = self.control.detail if self.control.reason is not None else None
            self.delegations.append(
                Delegation(agent=agent, task=task, turns=outcome.turns, stopped=stopped, report=outcome.text)
            )
            if stopped:
                return f"The {agent} agent was stopped ({stopped}). Its last words:\n{outcome.text}"
            return f"Report of the {agent} agent ({outcome.turns} turns):\n{outcome.text}"

        return beta_async_tool(
            delegate,
            name="delegate",
            description="Hand a task to a sub-agent, which works in its own context with its own tools and returns "
            f"a report. The sub-agents:\n{described}",
            input_schema=schema,
            cache_control=cache_control,
        )

    def _first_message(self, task: str | None) -> str:
        options = self.options
        lines = [task or DEFAULT_PROMPT, ""]
        if options.reference:
            lines.append(f"Reference implementation: {options.reference}")
        if options.script:
            lines.append(f"Its inference script: {options.script}")
        lines.append(
            "You work on the diffusers checkout the tools are connected to: editor and test paths are relative "
            "to its root; the reference can be viewed by its absolute path."
        )
        return "\n".join(lines)

    # ------------------------------------------------------------------ what the operator sees and keeps

    def _watched(self, role: Role, tool: Any) -> Any:
        """Prints each tool call's outcome under the agent's line (the call itself is printed with the reply)."""
        call = tool.call

        async def watched(input: object) -> Any:
            try:
                result = await call(input)
            except Exception as error:
                self.say(f"[{role.name}]   ← {tool.name} failed: {_clip(self.scrubber.text(str(error)), 220)}")
                raise
            self.say(f"[{role.name}]   ← {tool.name}: {_clip(self.scrubber.text(_result_text(result)), 160)}")
            return result

        tool.call = watched
        return tool

    def _log(self, role: Role, message: Any) -> None:
        for block in message.content:
            if block.type == "text" and block.text.strip():
                self.say(f"[{role.name}] {_clip(self.scrubber.text(block.text), 400)}")
            elif block.type == "tool_use":
                arguments = json.dumps(block.input, ensure_ascii=False)
                self.say(f"[{role.name}] → {block.name} {_clip(self.scrubber.text(arguments), 200)}")
        line = {
            "agent": role.name,
            "turn": self.control.turns + 1,
            "id": message.id,
            "stop_reason": message.stop_reason,
            "content": [block.model_dump(mode="json", exclude_none=True) for block in message.content],
            "usage": message.usage.model_dump(mode="json", exclude_none=True),
        }
        self._transcript.write(json.dumps(self.scrubber.data(line), ensure_ascii=False) + "\n")
        self._transcript.flush()

    def _result(self) -> RunResult:
        from ..traces import find_session

        try:
            trace: str | None = str(find_session(self.checkout, None)) if self.mcp is not None else None
        except IntegratorError:
            trace = None
        return RunResult(
            run_id=self.run_id,
            model=self.model,
            stop_reason=self.control.reason or "interrupted",
            detail=self.control.detail,
            final_text=self.final_text,
            turns=self.control.turns,
            max_turns=self.control.max_turns,
            budget_usd=self.control.budget_usd,
            cost_usd=self.control.cost,
            agents=self.usage,
            delegations=self.delegations,
            record=str(self.folder / "run.json"),
            transcript=str(self.folder / "transcript.jsonl"),
            server_log=str(self.folder / "server.log"),
            session_trace=trace,
            cassette=str(self.options.record or self.options.replay or "") or None,
            unplayed=self.replayer.unplayed if self.replayer else 0,
            started=self.started,
            seconds=round(time.time() - self.started, 2),
        )

    def write_record(self) -> None:
        self.result = self._result()
        data = self.scrubber.data(self.result.model_dump(mode="json"))
        (self.folder / "run.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def finish(self) -> None:
        """Writes the record and closes the files; prints the summary. Safe to call twice."""
        if getattr(self, "_finished", False):
            return
        self._finished = True
        self.write_record()
        self._transcript.close()
        if self.writer is not None:
            self.writer.close()
        result = self.result
        self.say("")
        self.say(usage_table(result.agents) if result.agents else "no API request was made")
        self.say(f"stopped: {result.stop_reason} — {result.detail}" if result.stop_reason != "done" else "done")
        if result.unplayed:
            self.say(f"the replay left {result.unplayed} recorded request(s) unplayed: the run ended early")
        for label, path in (
            ("run record", result.record),
            ("transcript", result.transcript),
            ("server trace", result.session_trace),
            ("cassette", result.cassette),
        ):
            if path:
                self.say(f"{label}: {path}")


@dataclass
class _Outcome:
    turns: int = 0
    text: str = ""


def _inside(path: Path | None, folder: Path | None) -> bool:
    if path is None or folder is None:
        return False
    return Path(folder).resolve() in Path(path).resolve().parents


def _result_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return " ".join(str(block.get("text", f"[{block.get('type')}]")) for block in result)
    except (TypeError, AttributeError):
        return str(result)


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
