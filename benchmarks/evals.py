"""The eval suite with one worker and with two: does `eval run --workers 2` use a second core?

Runs the same cases (default: the planted faults, which skip the integration's tests) with `--workers 1`, then
`--workers 2`, on the offline replay, and prints both wall times and the speed-up. The command a maintainer
would otherwise run is the one-worker suite. Target: speed-up >= 1.7 on 2 cores (a quiet machine: every case is
a chain of subprocesses — the server, quality, pytest — so two cases in parallel should nearly halve the time).
Exits 1 when the target is missed or a case does not score as expected.
Run: `.venv/bin/python benchmarks/evals.py [CASES...] [--target 1.7]`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from diffusers_integrator.evals.cases import load_cases
from diffusers_integrator.evals.run import run_evals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="Case ids (default: every planted fault).")
    parser.add_argument("--target", type=float, default=1.7)
    args = parser.parse_args()
    cases = args.cases or [case.id for case in load_cases() if case.kind == "planted-fault"]
    timings = {}
    with tempfile.TemporaryDirectory() as folder:
        for workers in (1, 2):
            started = time.perf_counter()
            summary = run_evals(cases, workers=workers, report_dir=Path(folder) / f"w{workers}", bundle=False)
            timings[workers] = time.perf_counter() - started
            if not summary.as_expected:
                print(f"workers={workers}: not every case scored as expected", file=sys.stderr)
                return 1
    speedup = timings[1] / timings[2]
    print(f"cases: {len(cases)} ({', '.join(cases)})")
    print(f"`diffusers-integrator eval run --workers 1`: {timings[1]:.1f} s")
    print(f"`diffusers-integrator eval run --workers 2`: {timings[2]:.1f} s")
    print(f"speed-up: {speedup:.2f}x (target >= {args.target})")
    return 0 if speedup >= args.target else 1


if __name__ == "__main__":
    raise SystemExit(main())
