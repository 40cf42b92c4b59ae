"""The agent runner as the solver of the eval task: one harness, three ways to run a case.

* replay (the eval's default): recorded tool calls through Inspect's mock model and ReAct agent;
* `cassette`: this runner, its API answered from the case's cassette `evals/cassettes/<case>.jsonl`;
* `live`: this runner against the Anthropic API with a real model (and the case's answers file for the human).

Either way the solver builds the case's tree as the eval's own solver does and leaves it in the store, so the
same scorers judge the end state (`evals/task.py`, `integration(solver=...)`). The run's record (tokens, cost
per agent, delegations) goes in the store as `agent_run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from inspect_ai.model import ChatMessageAssistant, ModelOutput
from inspect_ai.solver import Generate, Solver, TaskState, solver

from ..errors import IntegratorError
from ..evals.task import start_sample
from .cassette import replay_defaults
from .runner import DEFAULT_BUDGET_USD, DEFAULT_MAX_TURNS, RunOptions, run_agents
from .script import cassettes_dir, write_answers


Mode = Literal["cassette", "live"]


def cassette_of(case_id: str) -> Path:
    return cassettes_dir() / f"{case_id}.jsonl"


@solver
def agent_runner(
    mode: Mode = "cassette",
    model: str | None = None,
    workdir: str | None = None,
    max_turns: int = DEFAULT_MAX_TURNS,
    budget_usd: float = DEFAULT_BUDGET_USD,
) -> Solver:
    """Builds the case's tree and runs the lead, parity and review agents on it."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        case, root, tree, _ = await start_sample(state, workdir)
        cassette = cassette_of(case.id)
        defaults = replay_defaults(cassette) if cassette.is_file() else {}
        defaults.pop("case", None)
        if mode == "cassette":
            if not cassette.is_file():
                raise IntegratorError(
                    f"Case {case.id} has no cassette ({cassette}).",
                    f"Script one with `diffusers-integrator agent script {case.id}`, or run it live.",
                )
            options = RunOptions(checkout=tree, replay=cassette, **defaults)
        else:
            answers = defaults.pop("answers", None) or write_answers(case, root / "answers.yaml")
            defaults.pop("model", None)
            options = RunOptions(
                checkout=tree,
                **{**defaults, "prompt": state.input_text},
                model=model,
                answers=answers,
                record=root / f"{case.id}.live.jsonl",
                case=case.id,
            )
        options.max_turns, options.budget_usd = max_turns, budget_usd
        lines: list[str] = []
        options.say = lines.append
        result = await run_agents(options)
        state.store.set("agent_run", result.model_dump(mode="json"))
        state.store.set("agent_log", "\n".join(lines[-400:]))
        text = result.final_text or f"(the run stopped: {result.stop_reason}, {result.detail})"
        state.output = ModelOutput.from_content(result.model, text)
        state.messages.append(ChatMessageAssistant(content=text))
        if result.stop_reason == "mismatch":
            raise IntegratorError(result.detail, "Re-script or re-record the case's cassette.")
        return state

    return solve
