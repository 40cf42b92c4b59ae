"""Strip and restore every module of a diffusers package that registers public names, compared strictly.

For each case (model modules, model families, scheduler modules, pipeline and modular packages, guider, hook,
loader and quantizer modules) the names are unregistered and the files deleted (nothing under src/diffusers
mentions the names any more), then the files come back and `register_lazy_import`'s planner registers the
names again. Every touched file is compared with upstream's text, guards included: byte-identical, or allowed
to differ only where upstream contradicts itself — each such file is listed with the evidence. Anything else
is a failure (exit status 1).

    .venv/bin/python benchmarks/strip_restore.py                     # the installed release
    .venv/bin/python benchmarks/strip_restore.py --package $DIFFUSERS_CLONE/src/diffusers   # a clone's main
    .venv/bin/python benchmarks/strip_restore.py --sample 3          # three cases of each kind
    .venv/bin/python benchmarks/strip_restore.py --only pipelines/z_image --verbose
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from diffusers_integrator.registry.graph import build_graph
from diffusers_integrator.registry.tree import MemoryTree
from diffusers_integrator.testing.strip_restore import STATUS_ORDER, enumerate_cases, run_sweep, sample_cases
from diffusers_integrator.testing.trees import installed_diffusers_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", type=Path, help="a diffusers package folder (default: the installed one)")
    parser.add_argument("--sample", type=int, default=0, help="only N cases of each kind")
    parser.add_argument("--only", action="append", default=[], help="only cases whose path contains this")
    parser.add_argument("--verbose", action="store_true", help="also print each case that is not identical")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    package = args.package or installed_diffusers_dir()
    base = MemoryTree.from_folder(package)
    graph = build_graph(base)
    cases = enumerate_cases(graph)
    if args.sample:
        cases = sample_cases(cases, args.sample)
    if args.only:
        cases = [case for case in cases if any(part in case.label for part in args.only)]
    report = run_sweep(base, cases, graph)
    total = time.perf_counter() - started

    version = (base.read("__init__.py") or "").split('"')[1]
    print(f"strip-and-restore on diffusers {version} ({package})")
    print(f"cases: {len(report.outcomes)}   time: {total:.1f} s (sweep {report.seconds:.1f} s)")
    counts = report.counts()
    print("outcomes: " + ", ".join(f"{status} {counts.get(status, 0)}" for status in STATUS_ORDER))
    print()
    print(f"{'kind':<14}" + "".join(f"{status:>17}" for status in STATUS_ORDER))
    for kind, row in sorted(report.by_kind().items()):
        print(f"{kind:<14}" + "".join(f"{row.get(status, 0):>17}" for status in STATUS_ORDER))
    files = report.file_counts()
    print()
    print("touched files: " + ", ".join(f"{status} {files.get(status, 0)}" for status in STATUS_ORDER))
    rules = report.rule_counts("upstream-varies")
    if rules:
        print("  allowed differences by rule: " + ", ".join(f"{rule} {n}" for rule, n in rules.most_common()))
    overridden = [outcome for outcome in report.outcomes if outcome.overridden]
    names = sum(len(outcome.names) for outcome in report.outcomes)
    print(
        f"names: {names}; backends inferred as upstream for {names - sum(len(o.overridden) for o in overridden)}, "
        f"overridden with upstream's for {sum(len(o.overridden) for o in overridden)} (in {len(overridden)} cases)"
    )
    print(f"idempotent: {sum(o.idempotent for o in report.outcomes)}/{len(report.outcomes)}")
    shared = sorted({name for outcome in report.outcomes for name in outcome.shared})
    print(
        "no mention left under src/diffusers after strip: all names, except those that stay registered for "
        f"another module ({', '.join(shared) or 'none'})"
    )
    slowest = sorted(report.outcomes, key=lambda outcome: -outcome.seconds)[:3]
    print("slowest cases: " + ", ".join(f"{o.case.label} {o.seconds:.2f} s" for o in slowest))

    print("\nevery file allowed to differ, with upstream's evidence (case: rule: evidence):")
    for rel, items in report.varying_files().items():
        print(f"  {rel}")
        for label, file in items:
            print(f"      {label}: {file.rule}: {file.evidence}")
    notes = [(outcome.case.label, note) for outcome in report.outcomes for note in outcome.explained]
    for label, note in notes:
        print(f"  (names) {label}: {note}")

    failures = [outcome for outcome in report.outcomes if outcome.status == "failure"]
    for outcome in report.outcomes:
        if outcome.status == "failure" or (args.verbose and outcome.status != "identical"):
            print(f"\n{outcome.status}: {outcome.case.kind} {outcome.case.label}")
            for reason in outcome.reasons + outcome.explained:
                print(f"    {reason}")
            for file in outcome.files:
                if file.status != "identical":
                    print(f"    {file.status:<16} {file.rel}: {file.rule}: {file.evidence}")
            if outcome.overridden:
                print(f"    backends overridden: {', '.join(outcome.overridden)}")
    print(
        f"\nfailures: {len(failures)} of {len(report.outcomes)} cases (target 0: every file identical or its "
        f"difference justified) -> {'MISSED' if failures else 'met'}"
    )
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
