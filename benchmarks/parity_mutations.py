"""Planted-bug benchmark for parity localisation.

Each case plants one bug from the pitfall catalogue (shared/diffusers-facts.md, "Parity") into a candidate at a
tiny random config — our research-style DiT against its diffusers port (names differ: alignment by values), and
diffusers' FluxTransformer2DModel against a copy of itself (names agree) — then runs the reference (recorded,
freed) and the candidate (compared), as `run_parity` does on CPU/float32.

Measures
* detection by outputs: an output over the float32 tolerance (max abs 1e-3);
* detection by the report: the verdict `run_parity` gives (outputs, or a module diverging beyond float noise);
* localisation: the blamed module is one the case names as correct;
* false alarms: clean ports that do not pass.

Usage: .venv/bin/python benchmarks/parity_mutations.py [--family research|flux] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default=None)
    parser.add_argument("--json", default=None, help="also write the per-case results here")
    args = parser.parse_args()

    import torch

    from diffusers_integrator.testing.mutations import all_cases, evaluate

    torch.set_num_threads(max(1, torch.get_num_threads()))
    cases = [c for c in all_cases() if args.family in (None, c.family)]
    started = time.perf_counter()
    results = []
    print(f"{'case':30} {'out max abs':>11} {'by out':>6} {'report':>6}  {'blamed (where)':48} ok")
    for case in cases:
        r = evaluate(case)
        results.append(r)
        blamed = "-" if r.culprit is None else f"{r.culprit or '(top level)'} ({r.where})"
        print(
            f"{r.name:30} {r.output_max_abs:11.2e} {'yes' if r.detected_by_outputs else 'no':>6} "
            f"{'FAIL' if r.detected else 'pass':>6}  {blamed[:48]:48} {'ok' if r.correct else 'WRONG'}"
        )
    bugs = [r for r in results if not r.clean]
    clean = [r for r in results if r.clean]
    by_outputs = sum(r.detected_by_outputs for r in bugs)
    detected = sum(r.detected for r in bugs)
    localized = sum(r.detected and r.localized for r in bugs)
    false_alarms = sum(r.detected for r in clean)
    elapsed = time.perf_counter() - started
    print()
    print(
        f"planted bugs: {len(bugs)} ({len({r.name.split('/', 1)[1] for r in bugs})} pitfalls); clean ports: {len(clean)}"
    )
    print(f"detection by outputs alone (max abs > 1e-3): {by_outputs}/{len(bugs)} = {by_outputs / len(bugs):.0%}")
    print(
        f"detection by the report verdict:              {detected}/{len(bugs)} = {detected / len(bugs):.0%} (target 100%)"
    )
    print(
        f"first-divergent module correct:               {localized}/{len(bugs)} = {localized / len(bugs):.0%} (target >= 90%)"
    )
    print(f"false alarms on clean ports:                  {false_alarms}/{len(clean)}")
    print(f"time: {elapsed:.1f} s for {len(results)} cases")
    print("command: .venv/bin/python " + " ".join(sys.argv))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([r.__dict__ for r in results], fh, indent=2)
    ok = detected == len(bugs) and localized >= 0.9 * len(bugs) and false_alarms == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
