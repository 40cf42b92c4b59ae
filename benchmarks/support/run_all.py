"""`make bench`: every `benchmarks/*.py`, one after another, whatever the earlier ones gave, then one table.

Each script's output streams as it runs. Its verdict lines (those that name a target, e.g. `ratio of medians:
1.08 wall ... (target <= 1.15) -> met`) are gathered for the closing table beside its exit status and time; a
script with none shows its last line. Exits 1 when any script exited non-zero (a missed target, or a crash), so
one miss no longer hides the figures of the scripts after it.

Run: `.venv/bin/python benchmarks/support/run_all.py [NAME ...]` (names without `.py`: only those scripts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


BENCHMARKS = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    script: str
    status: int
    seconds: float
    verdicts: list[str] = field(default_factory=list)


def verdict_lines(output: list[str]) -> list[str]:
    """The lines that state a result against its target; else the last non-empty line."""
    lines = [line.strip() for line in output if line.strip()]
    chosen = [line for line in lines if "target" in line.lower() and not line.lower().startswith("command")]
    return chosen or lines[-1:]


def run(script: Path) -> Outcome:
    """Runs one script with its output streamed through, and keeps what it printed."""
    print(f"== {script.relative_to(BENCHMARKS.parent)}", flush=True)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    output: list[str] = []
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            output.append(line)
    return Outcome(script.name, process.returncode, time.perf_counter() - started, verdict_lines(output))


def table(outcomes: list[Outcome]) -> str:
    width = max(len(outcome.script) for outcome in outcomes)
    rows = [f"{'script':<{width}}  {'result':<10}  {'time':>7}  verdict", "-" * (width + 34)]
    for outcome in outcomes:
        result = "passed" if outcome.status == 0 else f"FAILED ({outcome.status})"
        first, *more = outcome.verdicts or ["(no output)"]
        rows.append(f"{outcome.script:<{width}}  {result:<10}  {outcome.seconds:>6.0f}s  {first}")
        rows.extend(f"{'':<{width}}  {'':<10}  {'':>7}  {line}" for line in more)
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    scripts = sorted(BENCHMARKS.glob("*.py"))
    if argv:
        unknown = set(argv) - {script.stem for script in scripts}
        if unknown:
            print(f"no such benchmark: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        scripts = [script for script in scripts if script.stem in argv]
    outcomes = []
    for script in scripts:
        outcomes.append(run(script))
        print(flush=True)
    failed = [outcome.script for outcome in outcomes if outcome.status != 0]
    print("== summary")
    print(table(outcomes))
    print(
        f"\n{len(outcomes) - len(failed)} of {len(outcomes)} passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
