"""`make_quality` on a real integration change vs the gates a contributor runs upstream, on a diffusers clone.

The tree: a working copy of a diffusers clone (`DIFFUSERS_CLONE`, else `../shared/diffusers/` unpacked). The
change: what every integration is — `scaffold` writes a new transformer and a standard pipeline (new modules,
tests, docs pages, the toctree entries, the lazy-import registrations in four `__init__.py` files and both
dummy files) — plus the slips of a first draft: an unused import in the new model, a helper ruff would
reformat, a hand-edited `# Copied from` block, and a source edited under its copies elsewhere in the tree.

Upstream, one after the other from the root as its Makefile and PR CI run them (PYTHONPATH=src, the ruff
setup.py pins): `ruff check` and `ruff format --check` over the Makefile's `check_dirs` + setup.py,
`python utils/check_doc_toc.py`, `check_copies.py`, `check_dummies.py`, `check_support_list.py`,
`check_forward_call_docstrings.py`. Not counted (we do not run them either): `doc-builder style` (hf-doc-builder,
not installed here) and `check_ai.py` (upstream's `.ai/` guides, which an integration does not touch).

Ours: `run_quality` in-process with the default scope (`changed`), as the `make_quality` tool runs in a warm
server; the CLI in a fresh process is printed too. Runs alternate so machine noise hits both alike; medians.
Same findings: ruff's lint and format findings, the stale `# Copied from` blocks and the outcome of every
upstream script are compared one by one. Target: upstream / ours >= 5. Exits 1 when missed or when the
findings differ.

Run: `.venv/bin/python benchmarks/quality.py [--runs N]`
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support.clone import find_clone, machine_load, ruff_pin, upstream_env, working_copy

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.checkout.offers import read_offers
from diffusers_integrator.quality import QualityRequest, QualityResult, copies, run_quality
from diffusers_integrator.quality.ruff_bin import find_ruff
from diffusers_integrator.scaffold.generator import scaffold
from diffusers_integrator.scaffold.schema import ScaffoldRequest


TARGET = 5.0
PKG = "src/diffusers"
SCRIPTS = ["check_doc_toc", "check_copies", "check_dummies", "check_support_list", "check_forward_call_docstrings"]
_COPY = re.compile(r"^- (\S+): copy does not match (\S+) at line (\d+)", re.M)
_LOCATED = re.compile(r"^([\w./-]+\.py):(\d+): ", re.M)


def _edit(path: Path, old: str, new: str, after: str | None = None) -> None:
    text = path.read_text()
    at = text.index(after) if after else 0
    at = text.index(old, at)
    path.write_text(text[:at] + new + text[at + len(old) :])


def make_change(root: Path) -> list[str]:
    """Scaffolds a model + pipeline and plants a draft's slips; returns the scaffold's files."""
    result = scaffold(Checkout.find(root), ScaffoldRequest(model_name="Foo", pipeline="standard"))
    package = root / PKG
    model = package / "models/transformers/transformer_foo.py"
    _edit(model, "import torch\n", "import os\n\nimport torch\n")  # unused import (and an unsorted block)
    pndm = package / "schedulers/scheduling_pndm.py"
    pndm.write_text(pndm.read_text() + "\n\ndef draft_helper( value ):\n    return {'value':value}\n")
    euler = package / "schedulers/scheduling_euler_discrete.py"
    _edit(euler, "prev_sample: torch.Tensor", "prev_sample: torch.FloatTensor", after="# Copied from diffusers.")
    ddpm = package / "schedulers/scheduling_ddpm.py"
    _edit(ddpm, "velocity = sqrt_alpha_prod", "velocity = 1.0 * sqrt_alpha_prod")
    return [f.path for f in result.files]


def upstream_commands(root: Path) -> list[list[str]]:
    offers = read_offers(Checkout.find(root))
    dirs = [d for d in offers.check_dirs if d != "setup.py"]
    commands = [
        ["ruff", "check", *dirs, "setup.py", "--output-format", "json"],
        ["ruff", "format", "--check", *dirs, "setup.py"],
    ]
    return commands + [["python", f"utils/{name}.py"] for name in SCRIPTS]


def run_upstream(root: Path, commands: list[list[str]], env: dict[str, str]) -> tuple[float, list[tuple]]:
    """Runs the commands in order; (wall seconds, [(command, seconds, exit code, stdout, stderr)])."""
    runs = []
    started = time.perf_counter()
    for command in commands:
        began = time.perf_counter()
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        runs.append((command, time.perf_counter() - began, done.returncode, done.stdout, done.stderr))
    return time.perf_counter() - started, runs


def compare(root: Path, runs: list[tuple], ours: QualityResult, ruff: str) -> list[tuple[str, bool, str]]:
    """(what, same, detail) for every gate both sides run."""
    by_name = {
        " ".join(c[:2]) if c[0] == "ruff" else Path(c[1]).stem: (code, out, err) for c, _, code, out, err in runs
    }
    found = {check: [f for f in ours.findings if f.check == check] for check in {f.check for f in ours.findings}}
    rows = []

    code, out, _ = by_name["ruff check"]
    theirs = {
        (
            Path(item["filename"]).resolve().relative_to(root.resolve()).as_posix(),
            item["location"]["row"],
            item["code"],
        )
        for item in json.loads(out or "[]")
    }
    mine = {(f.path, f.line, f.code) for f in found.get("ruff-check", [])}
    rows.append(("ruff check", theirs == mine, f"{len(theirs)} upstream, {len(mine)} ours"))

    code, out, _ = by_name["ruff format"]
    theirs = set(re.findall(r"^Would reformat: (\S+)", out, re.M))
    mine = {f.path for f in found.get("ruff-format", [])}
    rows.append(("ruff format --check (files)", theirs == mine, f"{len(theirs)} upstream, {len(mine)} ours"))

    code, out, err = by_name["check_copies"]
    checkout = Checkout.find(root)
    theirs = {
        (path, copies.first_difference_line(checkout, path, int(line), ruff, root / "pyproject.toml"))
        for path, _, line in _COPY.findall(out + err)
    }
    mine = {(f.path, f.line) for f in found.get("copies", [])}
    rows.append(("check_copies (stale blocks)", theirs == mine, f"{len(theirs)} upstream, {len(mine)} ours"))

    summaries = {s.check: s for s in ours.summary}
    for name in ("check_doc_toc", "check_dummies", "check_support_list", "check_forward_call_docstrings"):
        code, out, err = by_name[name]
        mine_summary = summaries.get(f"upstream/{name}")
        mine_failed = mine_summary is not None and mine_summary.status in ("failed", "broken")
        same = (code != 0) == mine_failed
        if name == "check_forward_call_docstrings":  # ours runs it on the changed model and pipeline files
            theirs = set(_LOCATED.findall(out + err))
            mine = {(f.path, str(f.line)) for f in found.get(f"upstream/{name}", [])}
            same = same and theirs == mine
        rows.append((name, same, f"upstream exit {code}, ours {mine_summary.status if mine_summary else 'absent'}"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    clone, origin = find_clone()
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as folder:
        root = working_copy(clone, Path(folder))
        scaffolded = make_change(root)
        pin = ruff_pin(root)
        binary = find_ruff(pin)
        env = upstream_env(root, str(Path(binary.path).parent))
        commands = upstream_commands(root)
        checkout = Checkout.find(root)
        request = QualityRequest(max_findings=500)
        cli = [str(Path(sys.executable).with_name("diffusers-integrator")), "quality", "--checkout", str(root)]

        # Warm both sides once (ruff caches, the OS file cache, the pinned ruff install), untimed.
        run_upstream(root, commands, env)
        run_quality(checkout, request)

        upstream_s, ours_s, cli_s = [], [], []
        runs: list[tuple] = []
        ours: QualityResult | None = None
        for _ in range(args.runs):
            total, runs = run_upstream(root, commands, env)
            upstream_s.append(total)
            started = time.perf_counter()
            ours = run_quality(checkout, request)
            ours_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run(cli, capture_output=True)
            cli_s.append(time.perf_counter() - started)
        assert ours is not None
        rows = compare(root, runs, ours, binary.path)

    up, mine, fresh = statistics.median(upstream_s), statistics.median(ours_s), statistics.median(cli_s)
    ratio = up / mine
    print(f"clone: {origin}")
    print(
        f"change: scaffold Foo (transformer + standard pipeline, {len(scaffolded)} files) + 4 planted slips; "
        f"{ours.files_total} files in scope; ruff {binary.version} (setup.py pins {pin})"
    )
    print(f"machine: {machine_load()}")
    print(f"\nupstream, median of {args.runs} (each command's last run):")
    for command, seconds, code, _, _ in runs:
        print(f"  {seconds:6.2f} s  exit {code}  {' '.join(command[:3])}{' ...' if len(command) > 3 else ''}")
    print(f"  {up:6.2f} s  total (median)")
    print(f"ours, make_quality in-process (a warm server), median of {args.runs}: {mine:.2f} s")
    for summary in ours.summary:
        print(f"  {summary.duration_ms / 1000:6.2f} s  {summary.check:<40} {summary.status}")
    print(f"ours, `diffusers-integrator quality` in a fresh process, median: {fresh:.2f} s ({up / fresh:.1f}x)")
    print("\nsame findings on the gates both run:")
    for what, same, detail in rows:
        print(f"  {'same' if same else 'DIFFERENT':9} {what:<32} {detail}")
    extra = [
        f for f in ours.findings if f.check in ("registration", "dummies", "model-code", "pipeline-code", "toctree")
    ]
    print(f"  (ours only: {len(extra)} findings of the registry engine and review rules upstream has no script for)")
    ok = ratio >= TARGET and all(same for _, same, _ in rows)
    print(f"\nratio upstream / ours: {ratio:.1f}x (target >= {TARGET:g}x) -> {'met' if ok else 'MISSED'}")
    print("upstream command: make quality's ruff check/format + python utils/{" + ",".join(SCRIPTS) + "}.py")
    print("command: .venv/bin/python benchmarks/quality.py " + " ".join(sys.argv[1:]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
