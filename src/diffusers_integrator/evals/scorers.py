"""The checks of `checks.py` as Inspect scorers: one per check, each explaining its score."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Scorer, Target, accuracy, scorer, stderr
from inspect_ai.solver import TaskState

from ..checkout import Checkout
from ..traces import find_session, read_trace
from .cases import load_case
from .checks import CHECK_FUNCTIONS, CHECKS, Verdict


def run_check(check: str, state: TaskState) -> Verdict:
    """Runs one check on the sample's end state (the tree and trace the solver left in the store)."""
    tree = state.store.get("tree")
    if not tree:
        return Verdict(check=check, passed=False, explanation="the session never started (no tree)")
    case = load_case(Path(state.metadata["case_dir"]))
    base = state.store.get("base")
    trace = read_trace(find_session(Checkout.find(tree), None))
    return CHECK_FUNCTIONS[check](case, Path(tree), trace, Path(base) if base else None)


def _check_scorer(check: str) -> Scorer:
    @scorer(name=check, metrics=[accuracy(), stderr()])
    def make() -> Scorer:
        async def score(state: TaskState, target: Target) -> Score:
            try:
                verdict = await anyio.to_thread.run_sync(run_check, check, state)
            except Exception as error:  # a check that cannot run fails, and says why
                verdict = Verdict(check=check, passed=False, explanation=f"the check could not run: {error}")
            return Score(value=CORRECT if verdict.passed else INCORRECT, explanation=verdict.explanation)

        return score

    return make()


def end_state_scorers(checks: tuple[str, ...] = CHECKS) -> list[Scorer]:
    """One scorer per check, in the order of `checks.CHECKS`."""
    return [_check_scorer(check) for check in checks]
