"""A scripted Messages API: a recorded eval case played as the lead, parity and review agents' replies.

There is no API access where this project is built and tested, so the cassette shipped for a case is made by
running the real runner (real SDK tool loops, real server, real tools, real tree) against this stand-in for
the API, with recording on. Its header says `scripted: true`. `scripts_from_case` splits the case's turns
among the roles: a call of a tool a sub-agent holds goes to that sub-agent (an editor call to the agent of the
call that follows it); the lead keeps the rest, then delegates to each sub-agent that has turns, parity before
review. The human's chat replies (`record_answer`) leave the script: in a run the human answers the forms,
here from an answers file made from those replies (`answers_from_case`).

`ScriptedAPI` is an httpx2 transport: it tells the agents apart by their system prompt (a thread's first
request) or the reply a request continues from, answers with the agent's next turn (`{"$ref": ...}`
arguments resolved from the tool results it has seen, and a running job followed with `job_status`, as the
eval's replayer does), and reports token usage estimated from the characters it was sent (4 per token).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml

from ..errors import IntegratorError
from ..evals.cases import EDIT_TOOL, EvalCase, Turn
from .cassette import package_path
from .local_tools import EDITOR_NAME
from .roles import LEAD, ROLES, SUB_AGENTS, role_for_tool


CHARS_PER_TOKEN = 4
SCRIPTED_NOTE = (
    "SCRIPTED, not recorded from a model: there is no API access where this cassette was made. The responses "
    "are the turns of the eval case {case} (evals/cases/{case}/case.yaml), split among the lead, parity and "
    "review agents; the runner, the SDK's tool loop, the server and the tools really ran. Token counts are "
    "estimates (4 characters a token). Regenerate with `diffusers-integrator agent script {case}`."
)
# Where the package's own research model lives, for cases that integrate it (TinyDiT).
PACKAGE_REFERENCE = "package:testing"
PACKAGE_SCRIPT = "package:testing/research_dit.py"


# ---------------------------------------------------------------------------------------------- from a case


@dataclass
class Scripts:
    """Each agent's turns, the lead's delegations included."""

    turns: dict[str, list[Turn]]
    tasks: dict[str, str] = field(default_factory=dict)


def scripts_from_case(case: EvalCase) -> Scripts:
    turns: dict[str, list[Turn]] = {name: [] for name in ROLES}
    pending_edits: list[Turn] = []
    final: Turn | None = None
    for turn in case.turns:
        if turn.tool == "record_answer":
            continue  # the human answers in the form, from the answers file
        if turn.tool is None:
            final = turn
            continue
        if turn.tool == EDIT_TOOL:
            pending_edits.append(turn)
            continue
        turns[role_for_tool(turn.tool).name] += [*pending_edits, turn]
        pending_edits = []
    turns[LEAD.name] += pending_edits
    tasks = {}
    for agent in SUB_AGENTS:
        if not turns[agent]:
            continue
        tasks[agent] = _task(case, agent, turns[agent])
        turns[LEAD.name].append(Turn(tool="delegate", arguments={"agent": agent, "task": tasks[agent]}))
        turns[agent].append(Turn(say=_report(agent, turns[agent])))
    turns[LEAD.name].append(final or Turn(say="Done."))
    return Scripts(turns=turns, tasks=tasks)


def _task(case: EvalCase, agent: str, turns: list[Turn]) -> str:
    plan = next((t.arguments for t in case.turns if t.tool == "confirm_plan"), {})
    model = plan.get("model_name", case.id)
    if agent == "parity":
        criteria = "; ".join(
            f"{p.get('target')}: {p.get('metric')} <= {p.get('threshold')} ({p.get('device')}, {p.get('dtype')})"
            for p in plan.get("parity") or []
        )
        specs = [t.arguments["spec"] for t in turns if t.tool == "run_parity"]
        planted = [spec for spec in specs if spec in case.expect.parity.planted_bugs]
        check = f" ({', '.join(planted)} plants a known bug: its localisation must name the module)" if planted else ""
        return (
            f"Prove numerical parity of the {model} port against the reference. Criteria from the approved plan: "
            f"{criteria or 'max abs diff < 1e-3 on cpu, float32'}. Write each spec under "
            f".diffusers-integrator/specs/ and run it on cpu: {', '.join(specs)}{check}. Report each spec's "
            "verdict, max abs diff and, for a failure, the first divergent module."
        )
    names = next((t.arguments.get("names") for t in turns if t.tool == "check_registration"), None)
    return (
        f"Review the {model} integration against the approved plan ({len(plan.get('files') or [])} files). "
        f"Check the registration of {', '.join(names or case.expect.names)}, run make_quality on the changed "
        "files, then walk your checklist. Give a verdict with findings."
    )


def _report(agent: str, turns: list[Turn]) -> str:
    tools = ", ".join(dict.fromkeys(t.tool or "" for t in turns if t.tool))
    if agent == "parity":
        return f"Parity report: the specs ran ({tools}); the results above give each verdict and its localisation."
    return f"Review verdict: approve. Ran {tools} on the change; their results above hold no finding."


def answers_from_case(case: EvalCase) -> dict[str, Any]:
    """The answers file that gives the forms what the case's human said in chat."""
    asked = next((t.arguments for t in case.turns if t.tool == "ask_user_question"), {})
    headers = {f"q{i + 1}": q["header"] for i, q in enumerate(asked.get("questions") or [])}
    questions: dict[str, Any] = {}
    notes: dict[str, str] = {}
    plan: dict[str, Any] | None = None
    for turn in case.turns:
        if turn.tool != "record_answer":
            continue
        for answer in turn.arguments.get("answers") or []:
            header = headers.get(answer["question_id"], answer["question_id"])
            selected = answer["selected"]
            multi = next((q.get("multi_select") for q in asked["questions"] if q["header"] == header), False)
            questions[header] = selected if multi else selected[0]
            if answer.get("note"):
                notes[header] = answer["note"]
        if turn.arguments.get("verdict"):
            plan = {"decision": turn.arguments["verdict"], "note": turn.arguments.get("human_reply")}
    answers: dict[str, Any] = {"questions": questions, "notes": notes}
    if plan:
        answers["plan"] = plan
    answers["unanswered"] = "cancel"
    return answers


# ---------------------------------------------------------------------------------------------- the API


@dataclass
class _Agent:
    name: str
    turns: list[Turn]
    position: int = 0
    results: dict[str, Any] = field(default_factory=dict)
    seen_chars: int = 0


class ScriptedAPI(httpx2.AsyncBaseTransport):
    """Answers `POST /v1/messages` with the scripted turns of whichever agent is asking."""

    def __init__(self, scripts: Scripts, content_file: Any = None):
        self.agents = {name: _Agent(name, turns) for name, turns in scripts.turns.items()}
        self.content_file = content_file  # case.file_text, for editor turns that name a stored file
        self.by_reply: dict[str, _Agent] = {}
        self.tools: dict[str, str] = {}  # tool_use id -> tool name
        self.count = 0
        self.last_headers: dict[str, str] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.last_headers = dict(request.headers)  # what went over the wire (the tests look for the key there)
        body = json.loads(request.content)
        agent = self._agent(body)
        self._take_results(agent, body.get("messages") or [])
        message = self._reply(agent, body, len(request.content))
        self.by_reply[message["id"]] = agent
        return httpx2.Response(200, json=message, request=request)

    def _agent(self, body: dict[str, Any]) -> _Agent:
        thread = body.get("thread") or {}
        if thread.get("type") == "continue":
            return self.by_reply[thread["previous_message_id"]]
        system = body.get("system")
        text = system if isinstance(system, str) else " ".join(block.get("text", "") for block in system or [])
        for name, role in ROLES.items():
            if text.startswith(role.opening):
                return self.agents[name]
        raise IntegratorError(
            "The scripted API cannot tell which agent asks.", "Start each system prompt with its role."
        )

    def _take_results(self, agent: _Agent, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if message.get("role") != "user" or not isinstance(message.get("content"), list):
                continue
            for block in message["content"]:
                if block.get("type") != "tool_result" or block.get("is_error"):
                    continue
                name = self.tools.get(block.get("tool_use_id", ""))
                content = block.get("content")
                text = content if isinstance(content, str) else "".join(b.get("text", "") for b in content or [])
                try:
                    agent.results[name or "?"] = json.loads(text)
                except ValueError:
                    agent.results[name or "?"] = text

    def _reply(self, agent: _Agent, body: dict[str, Any], sent: int) -> dict[str, Any]:
        from ..evals.replay import resolve

        self.count += 1
        ident = f"{self.count:04d}"
        running = _running_job(body.get("messages") or [])
        content: list[dict[str, Any]] = []
        if running:  # long work outlived its wait: follow it, as any agent would
            tool, arguments, say = "job_status", {"job_id": running, "wait_s": 50}, None
        elif agent.position >= len(agent.turns):
            tool, arguments, say = None, {}, "The script ends here."
        else:
            turn = agent.turns[agent.position]
            agent.position += 1
            tool, say = turn.tool, turn.say
            arguments = resolve(turn.arguments, agent.results) if tool else {}
            if tool == EDIT_TOOL:
                tool, arguments = EDITOR_NAME, self._edit_arguments(arguments)
        if say:
            content.append({"type": "text", "text": say})
        if tool:
            use_id = f"toolu_scripted_{ident}"
            self.tools[use_id] = tool
            content.append({"type": "tool_use", "id": use_id, "name": tool, "input": arguments})
        # Estimated as the API would count with caching: the first request writes the system prompt and tools
        # to the cache; later ones read everything before them and write what they add (the moving breakpoint).
        output = len(json.dumps(content))
        if agent.seen_chars == 0:
            cached = len(_compact(body.get("system"))) + len(_compact(body.get("tools")))
            usage = {"input_tokens": (sent - cached), "cache_creation_input_tokens": cached}
            usage["cache_read_input_tokens"] = 0
        else:
            usage = {
                "input_tokens": 3,
                "cache_creation_input_tokens": sent,
                "cache_read_input_tokens": agent.seen_chars,
            }
        usage = {key: max(value // CHARS_PER_TOKEN, 0) for key, value in usage.items()}
        usage["output_tokens"] = max(output // CHARS_PER_TOKEN, 1)
        agent.seen_chars += sent + output
        return {
            "id": f"msg_scripted_{ident}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "scripted"),
            "content": content,
            "stop_reason": "tool_use" if tool else "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }

    def _edit_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        arguments = dict(arguments)
        if "content_file" in arguments:
            if self.content_file is None:
                raise IntegratorError("An editor turn names a stored file, and no case gives it.", "Pass the case.")
            arguments["file_text"] = self.content_file(arguments.pop("content_file"))
        return arguments


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _running_job(messages: list[dict[str, Any]]) -> str | None:
    """The job id, when the last tool result sent is a job still running."""
    for message in reversed(messages):
        if message.get("role") != "user" or not isinstance(message.get("content"), list):
            continue
        for block in reversed(message["content"]):
            if block.get("type") != "tool_result" or block.get("is_error"):
                return None
            content = block.get("content")
            text = content if isinstance(content, str) else "".join(b.get("text", "") for b in content or [])
            try:
                job = (json.loads(text) or {}).get("job")
            except (ValueError, AttributeError):
                return None
            return job.get("job_id") if isinstance(job, dict) and job.get("state") == "running" else None
    return None


# ---------------------------------------------------------------------------------------------- the cassette


def cassettes_dir() -> Path:
    """`evals/cassettes/`: shipped beside the cases they were made from."""
    from ..data import data_dir

    return data_dir("evals") / "cassettes"


def write_answers(case: EvalCase, path: Path) -> Path:
    header = f"# Answers for an unattended run of eval case {case.id}: what its human said in chat.\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(answers_from_case(case), sort_keys=False, width=100), encoding="utf-8")
    return path


async def script_cassette(case: EvalCase, workdir: Path, into: Path, say: Any = print) -> Any:
    """Runs the real runner on the case's tree against the scripted API, recording `into/<case>.jsonl`."""
    from ..evals.base import prepare_trees
    from .runner import DEFAULT_MODEL, RunOptions, run_agents

    tree, _ = prepare_trees(case, workdir)
    answers = write_answers(case, into / f"{case.id}.answers.yaml")
    options = RunOptions(
        checkout=tree,
        reference=package_path(PACKAGE_REFERENCE),
        script=package_path(PACKAGE_SCRIPT),
        prompt=case.prompt,
        model=DEFAULT_MODEL,
        answers=answers,
        record=into / f"{case.id}.jsonl",
        case=case.id,
        transport=ScriptedAPI(scripts_from_case(case), case.file_text),
        scripted=SCRIPTED_NOTE.format(case=case.id),
        header_extra={"reference": PACKAGE_REFERENCE, "script": PACKAGE_SCRIPT, "answers": answers.name},
        say=say,
    )
    result = await run_agents(options)
    if not result.ok:
        raise IntegratorError(f"The scripted run of {case.id} did not finish: {result.detail}", "Fix it, then rerun.")
    return result
