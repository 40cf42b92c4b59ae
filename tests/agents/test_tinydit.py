"""The shipped scripted cassette of the TinyDiT integration, replayed offline through the real SDK, server and
tools: lead, then parity, then review, ending in the end state and scores of the eval case it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffusers_integrator.agents.cassette import replay_defaults
from diffusers_integrator.agents.runner import RunOptions, run_agents
from diffusers_integrator.agents.script import cassettes_dir
from diffusers_integrator.checkout import Checkout
from diffusers_integrator.cli import main
from diffusers_integrator.evals.base import prepare_trees
from diffusers_integrator.evals.cases import load_cases
from diffusers_integrator.evals.checks import CHECK_FUNCTIONS
from diffusers_integrator.traces import find_session, read_trace


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_tinydit_cassette_replays_to_the_end_state_and_scores_of_its_case(tmp_path: Path) -> None:
    case = load_cases(["tinydit"])[0]
    tree, base = prepare_trees(case, tmp_path)
    cassette = cassettes_dir() / "tinydit.jsonl"
    defaults = replay_defaults(cassette)
    defaults.pop("case")
    lines: list[str] = []
    result = await run_agents(RunOptions(checkout=tree, replay=cassette, say=lines.append, **defaults))
    assert result.ok and result.unplayed == 0, result.detail
    assert [d.agent for d in result.delegations] == ["parity", "review"]
    assert set(result.agents) == {"lead", "parity", "review"}
    trace = read_trace(find_session(Checkout.find(tree), None))
    verdicts = {name: check(case, tree, trace, base) for name, check in CHECK_FUNCTIONS.items()}
    failed = {name: v.explanation for name, v in verdicts.items() if not v.passed}
    assert not failed, failed
    assert "culprit norm_out" in verdicts["parity"].explanation


@pytest.mark.slow
def test_agent_eval_scores_the_case_through_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The runner as the eval task's solver: `agent eval` is `eval run` with the agents from the cassette."""
    assert main(["agent", "eval", "tinydit", "--report", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert "| tinydit | integration | pass | pass | pass | pass | pass | pass | pass | yes |" in out
