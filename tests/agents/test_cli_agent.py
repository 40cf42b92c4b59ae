"""`diffusers-integrator agent`: the help explains a live run, bad arguments say what to pass, Ctrl-C keeps
the records."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diffusers_integrator.cli import build_parser, main

from .helpers import PLANTED_KEY, lines_of


def test_the_help_walks_a_live_run_and_its_cost() -> None:
    subcommands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    text = subcommands["agent"]._subparsers._group_actions[0].choices["run"].format_help()
    for needle in ("ANTHROPIC_API_KEY", "--budget-usd", "--max-turns", "--answers", "--record", "--replay", "Cost:"):
        assert needle in text, needle
    assert "Ctrl-C" in text and "Exit status" in text


def test_a_run_without_a_reference_a_key_or_an_answerer_says_what_to_pass(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["agent", "run", "--checkout", str(workspace)]) == 2
    assert "Pass --reference and --script." in capsys.readouterr().err
    script = workspace / "src" / "diffusers" / "__init__.py"
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert (
        main(["agent", "run", "--checkout", str(workspace), "--reference", str(workspace), "--script", str(script)])
        == 2
    )
    assert "ANTHROPIC_API_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    assert (
        main(["agent", "run", "--checkout", str(workspace), "--reference", str(workspace), "--script", str(script)])
        == 2
    )
    assert "pass --answers FILE" in capsys.readouterr().err, "stdin is not a terminal under pytest"


INTERRUPTED_RUN = """
import sys
from pathlib import Path
from diffusers_integrator.agents.runner import run
from diffusers_integrator.agents.script import ScriptedAPI, Scripts
from diffusers_integrator.evals.cases import Turn
from tests.agents.helpers import options

tree, folder = Path(sys.argv[1]), Path(sys.argv[2])
lead = [Turn(tool="inspect_checkout")] * 200 + [Turn(say="never reached")]
run_options = options(tree, folder, [], record=folder / "cut.jsonl", transport=ScriptedAPI(Scripts({"lead": lead})))
result = run(run_options)
print(result.stop_reason)
sys.exit(130 if result.stop_reason == "interrupted" else 1)
"""


def test_ctrl_c_stops_cleanly_and_keeps_the_record_and_the_cassette(workspace: Path, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_RUN, str(workspace), str(tmp_path)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cassette = tmp_path / "cut.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not cassette.is_file() or len(lines_of(cassette)) < 4):
        time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, out + err[-2000:]
    assert out.strip() == "interrupted"
    exchanges = [json.loads(line) for line in lines_of(cassette)[1:]]  # every line whole
    assert len(exchanges) >= 3
    record = json.loads(next((workspace / ".diffusers-integrator" / "agents").glob("*/run.json")).read_text())
    assert record["stop_reason"] == "interrupted" and record["turns"] >= len(exchanges) - 1
    assert record["session_trace"] and Path(record["session_trace"]).is_file()
