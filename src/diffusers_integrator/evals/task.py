"""The Inspect task: each case's session replayed (or run live) through the real server, then scored.

`inspect eval diffusers_integrator/evals/task.py` works as any Inspect task; `diffusers-integrator eval run`
is the same task with our defaults (offline replay, a summary report). The solver builds the case's tree,
starts `diffusers-integrator serve` on it over stdio (Inspect's MCP client) beside a confined file editor,
and runs Inspect's ReAct agent with either the recorded turns (`replay=True`, through `mockllm`) or the
task's model. Scorers then judge what the session left in the tree.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import anyio.to_thread
from inspect_ai import Task, task
from inspect_ai.agent import AgentPrompt, as_solver, react
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import mcp_server_stdio

from ..skills import skill_prompt
from .base import prepare_trees
from .cases import EvalCase, load_case, load_cases
from .replay import MODEL, Replayer, edit_file_tool
from .scorers import end_state_scorers


# A recorded case holds a few dozen turns; a live agent gets room, not a runaway.
MESSAGE_LIMIT = 400


def samples(cases: list[EvalCase]) -> list[Sample]:
    return [
        Sample(id=case.id, input=case.prompt, metadata={"case_dir": str(case.folder), "kind": case.kind})
        for case in cases
    ]


async def start_sample(state: TaskState, workdir: str | None) -> tuple[EvalCase, Path, Path, Path]:
    """(case, the sample's fresh folder, the session's tree in it, the shared base); the trees go in the store, where
    the scorers look for them."""
    case = load_case(Path(state.metadata["case_dir"]))
    root = Path(tempfile.mkdtemp(prefix=f"eval-{case.id}-", dir=workdir))
    # Copying and stripping a tree is blocking work: off the event loop, so other samples go on meanwhile.
    tree, base = await anyio.to_thread.run_sync(prepare_trees, case, root)
    state.store.set("tree", str(tree))
    state.store.set("base", str(base))
    return case, root, tree, base


@solver
def integrate(replay: bool = True, workdir: str | None = None) -> Solver:
    """Builds the case's tree, connects our server and an editor to an agent, and lets it work."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        case, _, tree, base = await start_sample(state, workdir)
        server = mcp_server_stdio(
            name="diffusers-integrator",
            command=sys.executable,
            args=["-m", "diffusers_integrator.cli", "serve", "--checkout", str(tree)],
            cwd=str(tree),
        )
        model = get_model(MODEL, custom_outputs=Replayer(case, base)) if replay else None
        agent = react(
            name="integrator",
            prompt=AgentPrompt(instructions=skill_prompt("integrating-models"), assistant_prompt=None),
            tools=[server, edit_file_tool(tree)],
            model=model,
            submit=False,
        )
        return await as_solver(agent)(state, generate)

    return solve


@task
def integration(
    cases: str | None = None, replay: bool = True, workdir: str | None = None, solver: Solver | None = None
) -> Task:
    """Every case (or those named, comma-separated), replayed offline by default.

    `solver` replaces the ReAct agent: the agent runner's (`agents/solver.py`) runs a case from its cassette or
    live; it builds the tree and leaves it in the store as `integrate` does, so the same scorers judge it.
    """
    selected = load_cases(cases.split(",") if cases else None)
    return Task(
        dataset=samples(selected),
        solver=solver or integrate(replay=replay, workdir=workdir),
        scorer=end_state_scorers(),
        message_limit=MESSAGE_LIMIT,
        model=MODEL if replay else None,
    )
