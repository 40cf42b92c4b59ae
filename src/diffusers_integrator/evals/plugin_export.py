"""Our eval cases as a `claude plugin eval` suite inside the plugin (`plugin/evals/<case>/`).

`eval run` replays a case's recorded turns; a live agent in Claude Code does its own work, so only the cases an
agent can be asked to do are exported (the integration and the strip-and-restore cases; a planted fault is a
wrong recorded session, there to test our scorers). Each exported case is a `case.yaml` in Claude Code's format
(schema 1.x: prompt, budget, graders) and a `scaffold.sh` that lays the case's starting tree in the run's
working folder with `diffusers-integrator eval tree`. Its graders are the deterministic part of our scorers that
Claude Code can check: the process (questions before the plan, the plan before the first write), the files,
the registration, and that quality and parity were run. The model's own tests, imports and parity numbers
need our replay (`eval run`), which runs them.

The suite's `--ablation with-without` arm runs each case without the plugin, so the report's delta is what the
plugin adds over bare Claude Code. `diffusers-integrator eval export-plugin --write` rewrites the suite;
`--check` fails when a case changed and the suite was not rewritten.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..checkout import Checkout
from ..data import data_dir
from ..errors import IntegratorError
from ..testing.trees import build_tree, installed_diffusers_dir, run_git
from .base import strip, unpack_clone
from .cases import EvalCase, cases_dir, load_case, load_cases


SCHEMA_VERSION = "1.1"
EVALS = "evals"
SCAFFOLD = "scaffold.sh"
# The plugin's server as Claude Code names its tools (`mcp__plugin_<plugin>_<server>__<tool>`); agents/plugin.py
# names the plugin and its server (a floor above this one, so a test checks that the two agree).
TOOL_PREFIX = "mcp__plugin_diffusers-integrator_diffusers-integrator__"
WRITE_TOOLS = ("scaffold", "register_lazy_import", "unregister_lazy_import")  # the server's tools that write
# What a live case may use: Claude Code's editor and shell, its Skill tool, and every tool of our server.
ALLOWED_TOOLS = ["Read", "Glob", "Grep", "Edit", "Write", "Bash", "Skill", f"{TOOL_PREFIX}*"]
HEADER = "# Generated from evals/cases/{id}/case.yaml by `diffusers-integrator eval export-plugin --write`.\n"


def plugin_dir() -> Path:
    """`plugin/` of a source checkout of this project."""
    return data_dir("tools").parent / "plugin"


def exported(case: EvalCase) -> bool:
    """A case a live agent can be asked to do (not a planted fault: that is a wrong session, not a task)."""
    return case.kind != "planted-fault"


def tool(name: str) -> str:
    return f"{TOOL_PREFIX}{name}"


def plugin_case(case: EvalCase) -> dict[str, Any]:
    """The case in `claude plugin eval`'s `case.yaml` format."""
    return {
        "schema_version": SCHEMA_VERSION,
        "name": case.id,
        "description": case.title,
        "tags": [case.kind, case.base.source],
        "context": {"scaffold_script": SCAFFOLD},
        "execution": {
            "prompt": prompt(case),
            "max_turns": 200,
            "timeout_seconds": 3600,
            "allowed_tools": ALLOWED_TOOLS,
        },
        "runs": 1,
        "graders": graders(case),
        "expected_outcome": f"{', '.join(case.expect.names)} in the tree and registered, under a plan the human "
        f"approved before any write (`diffusers-integrator eval run {case.id}` scores the same end state in full).",
    }


def prompt(case: EvalCase) -> str:
    """The human's request, with what the human answers (no one is there to answer in an eval run)."""
    replies = [turn.arguments["human_reply"] for turn in case.turns if "human_reply" in turn.arguments]
    lines = [case.prompt.strip(), "", "The diffusers checkout is the working directory (a git repository)."]
    if case.base.strip:
        lines.append(
            "Upstream's version of what is missing is in its git history: the commit before HEAD "
            "(`git show HEAD~1:<path>`)."
        )
    if replies:
        lines += [
            "",
            "No one can answer forms in this session. When you ask the human, these are their replies, in order:",
        ]
        lines += [f"{number}. {reply}" for number, reply in enumerate(replies, 1)]
    return "\n".join(lines) + "\n"


def graders(case: EvalCase) -> list[dict[str, Any]]:
    """Deterministic graders that mirror our scorers (process, files, registration, quality, parity)."""
    called = [turn.tool for turn in case.turns if turn.tool]
    found: list[dict[str, Any]] = []
    if "ask_user_question" in called and "confirm_plan" in called:
        found.append(_order("process-questions-before-plan", "ask_user_question", "confirm_plan"))
    first_write = next((name for name in called if name in WRITE_TOOLS), None)
    if first_write and "confirm_plan" in called:
        found.append(_order(f"process-plan-before-{first_write.replace('_', '-')}", "confirm_plan", first_write))
    for path in new_files(case):
        found.append({"type": "file_exists", "name": f"files-{_slug(path)}", "path": path})
    for name in case.expect.names:
        found.append(
            {
                "type": "regex",
                "name": f"registration-{name}",
                "target": {"source": "file", "path": "src/diffusers/__init__.py"},
                "pattern": f'"{name}"',
            }
        )
    dummies = [path for path in _expected_inits(case) if "/utils/dummy_" in path]
    if len(dummies) == 1:  # with several backends, which dummy file holds a name is the registry's to say
        for name in case.expect.names:
            found.append(
                {
                    "type": "regex",
                    "name": f"registration-dummy-{name}",
                    "target": {"source": "file", "path": dummies[0]},
                    "pattern": rf"class {name}\(metaclass=DummyObject\)",
                }
            )
    if case.expect.quality and "make_quality" in called:
        found.append({"type": "tool_used", "name": "quality-gates-run", "tool": tool("make_quality")})
    if case.expect.parity.passed:
        found.append({"type": "tool_used", "name": "parity-run", "tool": tool("run_parity")})
    return found


def new_files(case: EvalCase) -> list[str]:
    """The expected files the session creates (Claude Code's `file_exists` sees only files a run created): under
    what a strip-and-restore case removed, or, for a case on the installed package, absent from that package."""
    if case.base.strip:
        return [path for path in case.expect.files if any(_under(path, top) for top in case.base.strip)]
    package = installed_diffusers_dir()
    prefix = "src/diffusers/"
    return [
        path
        for path in case.expect.files
        if not (path.startswith(prefix) and (package / path.removeprefix(prefix)).exists())
    ]


def scaffold_script(case: EvalCase) -> str:
    needs_clone = (
        ': "${DIFFUSERS_CLONE:?set DIFFUSERS_CLONE to a diffusers git clone: this case starts from upstream}"\n'
        if case.base.source == "clone"
        else ""
    )
    return (
        "#!/usr/bin/env bash\n"
        f"{HEADER.format(id=case.id)}"
        "# Lays the case's starting tree (a git repository) in the run's working folder.\n"
        "set -euo pipefail\n"
        f"{needs_clone}"
        f'diffusers-integrator eval tree {case.id} --into "$PWD"\n'
    )


def suite_files(cases: list[EvalCase]) -> dict[str, str]:
    """Relative path under `evals/` -> text, for every exported case."""
    files: dict[str, str] = {}
    for case in cases:
        if exported(case):
            text = yaml.dump(plugin_case(case), Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
            files[f"{case.id}/case.yaml"] = HEADER.format(id=case.id) + text
            files[f"{case.id}/{SCAFFOLD}"] = scaffold_script(case)
    return files


def sync_plugin_evals(folder: Path | None = None, *, write: bool) -> list[str]:
    """The suite's files that differ from the cases (rewritten when `write`); stale cases are removed."""
    root = (folder or plugin_dir()) / EVALS
    wanted = suite_files(load_cases())
    stale = []
    for rel, text in wanted.items():
        path = root / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(str(path))
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                if path.suffix == ".sh":
                    path.chmod(0o755)
    wanted_cases = {rel.split("/")[0] for rel in wanted}
    for extra in sorted(p for p in root.glob("*/case.yaml") if p.parent.name not in wanted_cases):
        stale.append(str(extra.parent))
        if write:
            shutil.rmtree(extra.parent)
    return stale


def lay_tree(case: EvalCase, dest: Path) -> Path:
    """The case's starting tree in `dest` (an empty or missing folder): the base, stripped and committed."""
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise IntegratorError(f"{dest} is not empty.", "Lay the case's tree in an empty or missing folder.")
    if case.base.source == "installed":
        build_tree(dest)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            unpack_clone(Path(scratch) / "diffusers")
            for child in (Path(scratch) / "diffusers").iterdir():
                shutil.move(child, dest / child.name)
    if case.base.strip:
        strip(Checkout.find(dest), case.base.strip)
        run_git(dest, "add", "-A")
        run_git(dest, "commit", "-q", "-m", f"strip {case.id}")
    return dest


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the prompt) as literal blocks, readable as the prompt Claude Code sends."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)


def _order(name: str, before: str, after: str) -> dict[str, Any]:
    return {"type": "tool_order", "name": name, "before": tool(before), "after": tool(after)}


def _expected_inits(case: EvalCase) -> list[str]:
    return [*case.expect.same_as_base, *case.expect.equivalent_to_base] or case.expect.files


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _slug(path: str) -> str:
    return path.replace("/", "-").replace(".", "-").replace("_", "-")


# The CLI (`eval export-plugin`, `eval tree`; cli.py declares their arguments).


def run_action(args: argparse.Namespace) -> int:
    """`eval export-plugin` or `eval tree`."""
    if args.action == "tree":
        dest = lay_tree(load_case(cases_dir() / args.case), Path(args.into).resolve())
        print(f"laid the tree of {args.case} in {dest}")
        return 0
    stale = sync_plugin_evals(Path(args.dir) if args.dir else None, write=args.write)
    if stale and not args.write:
        print(
            f"The plugin's eval suite is stale: {', '.join(stale)}. Run `eval export-plugin --write`.", file=sys.stderr
        )
        return 1
    print(f"{'rewrote' if args.write else 'checked'} the plugin's eval suite ({len(stale)} changed)")
    return 0
