"""`make demo`: a whole integration, driven through the real server over stdio, ending in a score and a report.

The demo plays an agent that follows the integrating-models skill for `TinyDiT` (the research-style DiT in
`testing/research_dit.py`), with a scripted human (`script.py`). It starts `diffusers-integrator serve` as a child
process on a diffusers tree (built from the installed package, or a local clone of $DIFFUSERS_CLONE / `--clone`)
and connects the MCP SDK's client, which has no elicitation: the questions and the plan fall back to the chat,
and the human's replies go through `record_answer`, exactly as in Claude Desktop. It checks the checkout, reads
the skill, asks, shows that the write gate holds, gets the plan approved and scaffolds. Then it does what the
agent does with its own editor and shell (`testing/tiny_dit_integration.py`): writes the port into the scaffolded
model file, fills in the conversion script's key map, converts a seeded research checkpoint with that script,
proves parity of the model imported from the tree against the research DiT and localises a planted bug,
generates an image with the tree's pipeline, and runs the generated tests. Registration and quality come last,
over every file the session changed; then it grades its own session trace (`evals.score`) and writes
`report.md`, `report.json` and `tiny_dit.png`. The exit status is 0 only when every step worked and the score
is full, so the demo doubles as an end-to-end smoke test of an install.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

from ..errors import IntegratorError
from ..testing import tiny_dit_integration as integration
from ..testing.trees import build_tree, run_git
from . import script
from .steps import DemoRun, Step, StepFailed


# Marks a tree the demo built itself, so a rerun with the same --workdir may replace it (and nothing else).
DEMO_MARKER = "diffusers-integrator-demo"
JOB_POLL_S = 50
IMAGE_NAME = "tiny_dit.png"
IMAGE_SIZE = 64
IMAGE_STEPS = 6
CLONE_VARIABLE = "DIFFUSERS_CLONE"


# ---------------------------------------------------------------------------------------------- entry point


def run_demo(workdir: Path | None = None, clone: Path | None = None) -> int:
    """Builds the tree, runs the integration, scores it, writes the report; returns the exit status.

    `clone` (default: $DIFFUSERS_CLONE) is a diffusers git clone to build the tree from, so upstream's tester
    mixins are there and every generated test runs; without one the tree comes from the installed package.
    """
    started = time.perf_counter()
    clone = clone or (Path(os.environ[CLONE_VARIABLE]) if os.environ.get(CLONE_VARIABLE) else None)
    keep_tree = workdir is not None
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="diffusers-integrator-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    tree = base / "diffusers"
    _say("diffusers-integrator demo: a whole integration over stdio, a scripted agent and human, then a score")
    _prepare_tree(tree, clone)
    run = DemoRun(workdir=base, tree=tree)
    run.facts["build_s"] = round(time.perf_counter() - started, 2)
    run.facts["tree_source"] = f"a local clone of {clone}" if clone else "the installed diffusers package"
    run.facts["clone"] = str(clone) if clone else None
    _say(f"tree: {tree} (built from {run.facts['tree_source']} in {run.facts['build_s']:.1f}s)")
    try:
        anyio.run(_tour, run)
    except Exception as error:  # the server died or never started: a failed step, and the score says the rest
        detail = f"{type(error).__name__}: {error} (see {base / 'server.log'})"
        run.steps.append(Step(run.section or "connect", "the server connection", False, 0.0, detail))
        _say(f"  FAIL the server connection: {detail}")
    card = _score(run)
    from .report import write_report

    run.facts["total_s"] = round(time.perf_counter() - started, 2)
    paths = write_report(run, card)
    _section("summary")
    ok_steps = sum(step.ok for step in run.steps)
    _say(
        f"{ok_steps}/{len(run.steps)} steps worked in {run.facts['total_s']:.1f}s; "
        f"score {card.passed}/{card.total}" + (" (full)" if card.full else "")
        if card
        else f"{ok_steps}/{len(run.steps)} steps worked; no score (no trace)"
    )
    trace_copy = f", the trace in {paths[2].name}" if paths[2].is_file() else ""
    _say(f"report: {paths[0]} (+ {paths[1].name}{trace_copy})")
    if not keep_tree:
        shutil.rmtree(tree, ignore_errors=True)
        _say(f"the demo tree was removed (pass --workdir to keep it); the report stays in {base}")
    passed = not run.failed and card is not None and card.full
    for step in run.failed:
        _say(f"FAILED {step.section} / {step.name}: {step.detail}")
    _say("demo passed" if passed else "demo FAILED")
    return 0 if passed else 1


def _prepare_tree(tree: Path, clone: Path | None) -> None:
    """A fresh tree every run: the demo scaffolds the same names, and scaffold never overwrites."""
    if tree.exists():
        if not (tree / ".git" / DEMO_MARKER).is_file():
            raise IntegratorError(
                f"{tree} exists and the demo did not build it, so it will not replace it.",
                "Pass another --workdir (the demo builds its tree in <workdir>/diffusers).",
            )
        shutil.rmtree(tree)
    if clone is None:
        build_tree(tree)
    elif not (clone / ".git").exists():
        raise IntegratorError(
            f"{clone} is not a git clone of diffusers.", "Pass --clone (or DIFFUSERS_CLONE) a clone."
        )
    else:
        # Its committed HEAD, hard-linked: the tree's history is upstream's, so the change is what the demo did.
        run_git(clone.parent, "clone", "-q", "--local", str(clone.resolve()), str(tree))
    (tree / ".git" / DEMO_MARKER).write_text("built by `diffusers-integrator demo`; replaced on the next run\n")


# ---------------------------------------------------------------------------------------------- the tour


async def _tour(run: DemoRun) -> None:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    command = [sys.executable, "-m", "diffusers_integrator.cli", "serve", "--checkout", str(run.tree)]
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    log = run.workdir / "server.log"
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            info = client.server_info
            tools = [tool.name for tool in (await client.list_tools()).tools]
            prompts = (await client.list_prompts()).prompts
            resources = (await client.list_resources()).resources
            run.facts["server"] = {
                "name": info.name,
                "version": info.version,
                "protocol": client.protocol_version,
                "connect_s": round(time.perf_counter() - started, 2),
                "tools": tools,
            }
            _say(
                f"server: `diffusers-integrator serve` over stdio, {info.name} {info.version}, protocol "
                f"{client.protocol_version}, connected in {run.facts['server']['connect_s']:.2f}s "
                f"(its log: {log})"
            )
            _say(f"offers {len(tools)} tools, {len(prompts)} prompts, {len(resources)} resources; no elicitation here")
            agent = Agent(client, run)
            try:
                for section, steps in agent.steps():
                    run.section = section
                    _section(section)
                    for step in steps:
                        await step()
            except StepFailed:
                _say("  the tour stops here; the score below says what that cost")


class Agent:
    """The scripted agent: one method per step of the skill, each a tool call (or two) with a check."""

    def __init__(self, client: Any, run: DemoRun):
        self.client = client
        self.run = run
        self.answers: list[dict[str, Any]] = []
        self.dry_run: dict[str, Any] = {}
        self.registered: list[str] = []
        self.question_set = ""
        self.plan_id = ""

    def steps(self) -> list[tuple[str, list[Any]]]:
        return [
            ("1. look at the checkout, read the skill", [self.inspect, self.read_skill]),
            ("2. ask the human (no forms here: the chat, then record_answer)", [self.ask]),
            ("3. the write gate", [self.write_too_early]),
            (
                "4. the plan (scaffold dry run, confirm_plan, the human's verdict)",
                [self.scaffold_dry_run, self.confirm],
            ),
            ("5. scaffold", [self.scaffold]),
            ("6. the port and the key map, with the agent's own editor", [self.write_port, self.fill_conversion]),
            ("7. the shipped script converts the research checkpoint", [self.convert]),
            ("8. parity: the tree's model vs the research DiT", [self.parity_clean, self.parity_bug]),
            ("9. the pipeline, end to end", [self.generate]),
            ("10. the generated tests", [self.run_tests]),
            ("11. registration and quality", [self.check_registration, self.quality]),
        ]

    # ------------------------------------------------------------------ tool calls

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A tool call that must succeed; a tool error stops the tour."""
        result = await self.client.call_tool(tool, arguments)
        if result.is_error:
            raise StepFailed(f"{tool} failed: {result.content[0].text}")
        return result.structured_content

    async def finish(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A long tool: its result, following its job with job_status when it outlives `wait_s`."""
        answer = await self.call(tool, arguments)
        while answer.get("result") is None:
            job = answer.get("job") or {}
            if not job.get("job_id"):
                raise StepFailed(f"{tool} returned neither a result nor a job: {answer}")
            status = await self.call("job_status", {"job_id": job["job_id"], "wait_s": JOB_POLL_S})
            state = status["job"]["state"]
            if state in ("failed", "lost"):
                raise StepFailed(f"{tool} job {job['job_id']} {state}: {status['job'].get('error')}")
            answer = {"result": status.get("result"), "job": None if state == "succeeded" else status["job"]}
        return answer["result"]

    # ------------------------------------------------------------------ 1

    async def inspect(self) -> None:
        with _step(self.run, "inspect_checkout") as step:
            survey = await self.call("inspect_checkout", {})
            git = survey["git"]
            self.run.facts["diffusers_version"] = survey["diffusers_version"]
            step.detail = (
                f"{survey['layout']}, diffusers {survey['diffusers_version']}, {git['branch']} @ "
                f"{str(git['head'])[:10]}, {len(git['changed'])} changed, "
                f"{len(survey['helpers_missing'])} upstream helpers missing (a wheel has no Makefile/utils)"
            )

    async def read_skill(self) -> None:
        with _step(self.run, "list_skills") as step:
            skills = await self.call("list_skills", {})
            step.detail = ", ".join(skill["name"] for skill in skills["skills"])
        with _step(self.run, "get_skill") as step:
            skill = await self.call("get_skill", {"name": "integrating-models"})
            body = _after_frontmatter(skill["text"])
            step.detail = f"{skill['uri']} ({len(skill['text'].splitlines())} lines, sha256 {skill['sha256'][:12]})"
            step.lines = [line for line in body if line.strip()][:4]

    # ------------------------------------------------------------------ 2

    async def ask(self) -> None:
        with _step(self.run, "ask_user_question") as step:
            asked = await self.call("ask_user_question", {"questions": script.QUESTIONS})
            if asked["form"] != "not_shown" or asked["answers"]:
                raise StepFailed(f"expected the chat fallback (form not_shown), got form={asked['form']}")
            self.question_set = asked["question_set_id"]
            step.detail = (
                f"{self.question_set}: form {asked['form']}, {len(asked['ask_in_chat'])} questions for the chat"
            )
            step.lines = [_chat_question(question) for question in asked["ask_in_chat"]]
            step.lines.append(f'human  › "{script.HUMAN_ANSWERS}"')
        with _step(self.run, "record_answer") as step:
            recorded = await self.call(
                "record_answer",
                {"question_set_id": self.question_set, "answers": script.ANSWERS, "human_reply": script.HUMAN_ANSWERS},
            )
            self.answers = recorded["answers"]
            step.detail = "; ".join(f"{a['header']} = {', '.join(a['selected'])}" for a in self.answers)
            self.run.facts["answers"] = self.answers

    # ------------------------------------------------------------------ 3

    async def write_too_early(self) -> None:
        with _step(self.run, "scaffold before approval") as step:
            arguments = script.scaffold_arguments(self.answers, dry_run=False)
            result = await self.client.call_tool("scaffold", arguments)
            text = result.content[0].text if result.content else ""
            if not result.is_error or "no plan has been approved" not in text:
                raise StepFailed(f"the write gate did not refuse scaffold before approval: {text[:200]}")
            step.detail = "refused, as it must be"
            step.lines = [_clip(text.removeprefix("Error executing tool scaffold: "), 160)]
            self.run.facts["gate_refusal"] = text

    # ------------------------------------------------------------------ 4

    async def scaffold_dry_run(self) -> None:
        with _step(self.run, "scaffold dry_run") as step:
            self.dry_run = await self.call("scaffold", script.scaffold_arguments(self.answers, dry_run=True))
            names = self.dry_run["names"]
            step.detail = f"{len(self.dry_run['changes'])} files to touch; {self.dry_run['summary']}"
            step.lines = [
                f"names: {', '.join(self.dry_run['registered'])}",
                f"modules: transformer {names['transformer_module']}, pipelines/{names['pipeline_package']}, "
                f"modular_pipelines/{names['modular_package']}, {names['conversion_script']}",
            ]
            self.run.facts["names"] = names
            self.run.facts["dry_run_files"] = len(self.dry_run["changes"])

    async def confirm(self) -> None:
        arguments = script.scaffold_arguments(self.answers, dry_run=True)
        plan = script.plan_arguments(self.dry_run, arguments["pipeline"], arguments["tasks"])
        with _step(self.run, "confirm_plan") as step:
            shown = await self.call("confirm_plan", plan)
            if shown["form"] != "not_shown" or shown["may_write"]:
                raise StepFailed(f"expected the chat fallback for the plan, got form={shown['form']}")
            self.plan_id = shown["plan_id"]
            step.detail = f"{self.plan_id} (digest {shown['plan_digest']}): form {shown['form']}, shown in chat"
            step.lines = [f"agent  › {line}" for line in _fold_files(shown["plan_markdown"].splitlines())]
            step.lines.append(f'human  › "{script.HUMAN_VERDICT}"')
            self.run.facts["plan_markdown"] = shown["plan_markdown"]
        with _step(self.run, "record_answer") as step:
            verdict = await self.call(
                "record_answer", {"plan_id": self.plan_id, "verdict": "accept", "human_reply": script.HUMAN_VERDICT}
            )
            if verdict["plan_status"] != "approved" or not verdict["may_write"]:
                raise StepFailed(f"the plan was not approved: {verdict['plan_status']}")
            step.detail = f"{self.plan_id} accept → {verdict['plan_status']}, may_write={verdict['may_write']}"
            self.run.facts["plan"] = {"id": self.plan_id, "digest": verdict["plan_digest"]}

    # ------------------------------------------------------------------ 5

    async def scaffold(self) -> None:
        with _step(self.run, "scaffold") as step:
            done = await self.call("scaffold", script.scaffold_arguments(self.answers, dry_run=False))
            self.registered = done["registered"]
            step.detail = done["summary"]
            step.lines = [
                f"checklist: {len(done['checklist'])} items to fill in, first: {done['checklist'][0]['task']}"
            ]
            step.lines += [f"skipped: {_clip(item, 130)}" for item in done["skipped"]]
            self.run.facts["scaffold"] = {
                "summary": done["summary"],
                "files": [f"{f['action']} {f['path']}" for f in done["files"]],
                "registered": done["registered"],
                "skipped": done["skipped"],
                "checklist": [item["task"] for item in done["checklist"]],
            }

    # ------------------------------------------------------------------ 6

    async def write_port(self) -> None:
        await self._fill_in("write the port", integration.MODEL_FILE, integration.port_source)

    async def fill_conversion(self) -> None:
        await self._fill_in("fill in the key map", integration.CONVERSION_SCRIPT, integration.conversion_source)

    async def _fill_in(self, name: str, rel: str, fill: Any) -> None:
        from ..checkout import Checkout

        with _step(self.run, name) as step:
            # The agent edits the scaffolded file with its own editor; here through Checkout, like every write.
            checkout = Checkout.find(self.run.tree)
            scaffolded = checkout.resolve(rel).read_text(encoding="utf-8")
            text = fill(scaffolded)
            change = checkout.write_text(rel, text)
            added, removed = _diff_counts(scaffolded, text)
            step.detail = f"{change.action} {change.path}: +{added} -{removed} lines against the scaffold"
            self.run.facts.setdefault("edits", []).append(
                {"path": change.path, "added": added, "removed": removed, "lines": len(text.splitlines())}
            )

    # ------------------------------------------------------------------ 7

    async def convert(self) -> None:
        tree = self.run.tree
        with _step(self.run, "save the research checkpoint") as step:
            checkpoint = integration.save_research_checkpoint(tree / integration.RESEARCH_CHECKPOINT)
            step.detail = (
                f"{integration.RESEARCH_CHECKPOINT} (research_dit.build_reference, seed {integration.SEED}, "
                f"{checkpoint.stat().st_size // 1024} KiB)"
            )
        with _step(self.run, "convert_tiny_dit_to_diffusers.py") as step:
            out = tree / integration.CONVERTED
            shutil.rmtree(out, ignore_errors=True)
            command = [
                sys.executable,
                integration.CONVERSION_SCRIPT,
                "--checkpoint_path",
                integration.RESEARCH_CHECKPOINT,
                "--output_path",
                integration.CONVERTED,
                "--dtype",
                "fp32",
            ]
            done = _run_in_tree(tree, command, timeout_s=300)
            weights = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
            if done.returncode != 0 or "transformer/config.json" not in weights:
                raise StepFailed(f"the conversion failed (exit {done.returncode}): {_tail(done)}")
            step.detail = f"python {integration.CONVERSION_SCRIPT} (strict load) -> {integration.CONVERTED}/"
            step.lines = [f"{name} ({(out / name).stat().st_size // 1024} KiB)" for name in weights]
            self.run.facts["conversion"] = {
                "command": " ".join(command),
                "checkpoint": str(checkpoint),
                "converted": str(out),
                "files": weights,
            }

    # ------------------------------------------------------------------ 9

    async def generate(self) -> None:
        with _step(self.run, "TinyDiTPipeline -> PNG") as step:
            png = self.run.workdir / IMAGE_NAME
            png.unlink(missing_ok=True)
            command = [sys.executable, "-m", "diffusers_integrator.testing.tiny_dit_generate"]
            command += ["--weights", str(self.run.tree / integration.CONVERTED), "--out", str(png)]
            command += ["--size", str(IMAGE_SIZE), "--steps", str(IMAGE_STEPS)]
            done = _run_in_tree(self.run.tree, command, timeout_s=300)
            if done.returncode != 0:
                raise StepFailed(f"the pipeline failed (exit {done.returncode}): {_tail(done)}")
            facts = json.loads(done.stdout.strip().splitlines()[-1])
            image = _image_facts(png)
            if image["std"] == 0:
                raise StepFailed(f"{png} is one flat colour: the pipeline produced no image")
            facts.update(image)
            step.detail = (
                f"{png.name}: {image['width']}x{image['height']} {image['mode']}, {facts['steps']} steps, "
                f'"{facts["prompt"]}", the transformer from_pretrained({integration.CONVERTED}/transformer)'
            )
            step.lines = [
                "VAE, T5 encoder and tokenizer built in code (tiny, seeded), the diffusers of the tree: "
                + _clip(facts["diffusers"], 90)
            ]
            self.run.facts["image"] = facts

    # ------------------------------------------------------------------ 10

    async def run_tests(self) -> None:
        with _step(self.run, "pytest (generated tests)") as step:
            junit = self.run.workdir / "generated-tests.xml"
            junit.unlink(missing_ok=True)
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", f"--junitxml={junit}"]
            done = _run_in_tree(self.run.tree, [*command, *integration.GENERATED_TESTS], timeout_s=1200)
            if not junit.is_file():
                raise StepFailed(f"pytest wrote no report (exit {done.returncode}): {_tail(done)}")
            results = read_junit(junit)
            results["clone"] = self.run.facts.get("clone") is not None
            results["command"] = "PYTHONPATH=src python -m pytest " + " ".join(integration.GENERATED_TESTS)
            results["summary"] = _last_line(done.stdout)
            self.run.facts["tests"] = results
            step.detail = (
                f"{results['passed']} passed, {results['failed']} failed, {results['errors']} errors, "
                f"{results['skipped']} did not run (pytest: {results['summary']})"
            )
            for path, counts in results["files"].items():
                ran = counts["passed"] + counts["failed"] + counts["errors"]
                step.lines.append(
                    f"{path}: {counts['passed']} passed, {counts['failed'] + counts['errors']} failed, "
                    f"{counts['skipped']} did not run"
                    if ran
                    else f"{path}: the whole file could not run here (skipped, not passed)"
                )
            for reason, count in results["skip_reasons"].items():
                step.lines.append(f"did not run ({count}): {_clip(reason, 150)}")
            if results["skipped"] and not results["clone"]:
                step.lines.append("with a diffusers clone (--clone PATH or DIFFUSERS_CLONE) every generated test runs")
            if done.returncode not in (0, 5) or results["failed"] or results["errors"]:
                failing = ", ".join(results["failing"][:5])
                raise StepFailed(f"{results['failed'] + results['errors']} generated test(s) failed: {failing}")
            unrun = [path for path, counts in results["files"].items() if not counts["passed"]]
            if results["clone"] and unrun:
                raise StepFailed(f"on a clone every generated test file must run; none of {', '.join(unrun)} did")
            if not results["passed"]:
                raise StepFailed("no generated test ran")

    # ------------------------------------------------------------------ 11

    async def check_registration(self) -> None:
        with _step(self.run, "check_registration") as step:
            report = await self.call("check_registration", {"names": self.registered})
            if not report["ok"]:
                raise StepFailed(f"registration findings: {report['summary']}")
            step.detail = report["summary"]
            self.run.facts["registration"] = report["summary"]

    async def quality(self) -> None:
        with _step(self.run, "make_quality") as step:
            result = await self.finish("make_quality", {"scope": "changed", "wait_s": 45})
            step.detail = (
                f"{'ok' if result['ok'] else 'NOT ok'}: {result['findings_total']} findings on {result['scope']}"
            )
            step.lines = [
                f"{check['check']:<14} {check['status']:<8} {check['findings']:>2} findings  {_clip(check['detail'], 90)}"
                for check in result["summary"]
            ]
            self.run.facts["quality"] = {
                "ok": result["ok"],
                "scope": result["scope"],
                "findings_total": result["findings_total"],
                "summary": [{k: c[k] for k in ("check", "status", "findings", "detail")} for c in result["summary"]],
                "log_file": result["log_file"],
            }
            if result["findings_total"]:
                raise StepFailed(f"make_quality found {result['findings_total']} problem(s) in the change")

    # ------------------------------------------------------------------ 8

    async def parity_clean(self) -> None:
        report = await self._parity(script.CLEAN_SPEC, planted_bug=False, name="run_parity (clean port)")
        self.run.facts["parity_clean"] = _parity_facts(report)

    async def parity_bug(self) -> None:
        report = await self._parity(script.BUGGY_SPEC, planted_bug=True, name="run_parity (planted bug)")
        self.run.facts["parity_bug"] = _parity_facts(report)

    async def _parity(self, spec: str, *, planted_bug: bool, name: str) -> dict[str, Any]:
        from ..checkout import Checkout

        with _step(self.run, "write the buggy spec" if planted_bug else "write the spec") as step:
            # The agent writes its spec with its own editor; here through Checkout, like every write into a tree.
            change = Checkout.find(self.run.tree).write_text(spec, script.parity_spec(planted_bug=planted_bug))
            step.detail = f"{change.action} {change.path}" + (" (final shift/scale swapped)" if planted_bug else "")
        with _step(self.run, name) as step:
            report = await self.finish("run_parity", {"spec": spec, "device": "cpu", "wait_s": 45})
            expected = "failed" if planted_bug else "passed"
            worst = max((o.get("max_abs") or 0.0 for o in report.get("outputs") or []), default=0.0)
            step.detail = (
                f"{report['status']} on {report['device']}/{report['dtype']}, output max abs {worst:.2g} "
                f"(pass: {report['tolerance'] and report['tolerance'].get('max_abs')})"
            )
            divergence = (report.get("localization") or {}).get("first_divergence")
            if divergence:
                step.lines = [
                    f"first divergent module: {divergence['module']} ({divergence['where']}; reference "
                    f"{divergence['reference']}), culprit {divergence['culprit']} ({divergence['culprit_class']})",
                    f"why: {_clip(divergence['explanation'], 150)}",
                ]
                if divergence.get("likely_causes"):
                    step.lines.append(f"likely: {_clip(divergence['likely_causes'][0], 150)}")
            if report["status"] != expected:
                raise StepFailed(
                    f"{Path(spec).name}: {report['status']}, expected {expected}: {report['summary'][:300]}"
                )
            if planted_bug and not divergence:
                raise StepFailed("the planted bug was caught but not localised")
        return report


# ---------------------------------------------------------------------------------------------- the score


def _score(run: DemoRun) -> Any:
    from ..checkout import Checkout
    from ..evals import render_scorecard, score_trace
    from ..traces import find_session, read_trace, render_trace

    run.section = "12. the trace and the score"
    _section(run.section)
    with _step(run, "read the session trace") as step:
        try:
            trace = read_trace(find_session(Checkout.find(run.tree), None))
        except IntegratorError as error:
            step.ok, step.detail = False, str(error)
            return None
        shutil.copyfile(trace.path, run.workdir / "trace.jsonl")
        run.facts["trace"] = {"path": trace.path, "session_id": trace.session_id, "calls": len(trace.calls)}
        step.detail = f"{trace.path} ({len(trace.calls)} calls; `diffusers-integrator sessions show` prints it)"
        step.lines = render_trace(trace).splitlines()[2:]
    with _step(run, "score the trace") as step:
        card = score_trace(trace, script.expectations())
        missed = [c.id for c in card.criteria if not c.passed]
        step.detail = f"{card.passed}/{card.total} criteria" + (
            f", failed: {', '.join(missed)}" if missed else " (full)"
        )
        step.lines = render_scorecard(card).splitlines()[:-1]
        step.ok = card.full
    return card


# ---------------------------------------------------------------------------------------------- printing


class _Live:
    """What a step prints under its line; `ok` may be set to False by the step itself."""

    def __init__(self) -> None:
        self.detail = ""
        self.lines: list[str] = []
        self.ok = True


@contextmanager
def _step(run: DemoRun, name: str) -> Iterator[_Live]:
    live = _Live()
    started = time.perf_counter()
    try:
        yield live
    except StepFailed as failure:
        live.ok, live.detail = False, str(failure)
        _record(run, name, live, started)
        raise
    except Exception as error:  # a crash in a step is a failed step, with what it said
        live.ok, live.detail = False, f"{type(error).__name__}: {error}"
        _record(run, name, live, started)
        raise StepFailed(live.detail) from error
    _record(run, name, live, started)


def _record(run: DemoRun, name: str, live: _Live, started: float) -> None:
    seconds = time.perf_counter() - started
    run.steps.append(Step(run.section, name, live.ok, round(seconds, 2), live.detail))
    _say(f"  {'ok  ' if live.ok else 'FAIL'} {name:<28} {seconds:6.2f}s  {live.detail}")
    for line in live.lines:
        _say(f"         {line}")


def _chat_question(question: dict[str, Any]) -> str:
    options = " / ".join(o["label"] + (" (recommended)" if o["recommended"] else "") for o in question["options"])
    several = ", several allowed" if question["multi_select"] else ""
    return f"agent  › {question['header']}: {question['question']} [{options}{several}]"


def _fold_files(lines: list[str], keep: int = 3) -> list[str]:
    """The plan as shown, with its long file list folded (the report has it whole)."""
    out: list[str] = []
    in_files, shown, hidden = False, 0, 0
    for line in lines:
        if line.startswith("Files to touch"):
            in_files = True
        elif in_files and line.startswith("- "):
            shown += 1
            if shown > keep:
                hidden += 1
                continue
        elif in_files:
            if hidden:
                out.append(f"- … {hidden} more")
            in_files = False
        out.append(line)
    return out


def _after_frontmatter(text: str) -> list[str]:
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        return lines[end + 1 :]
    return lines


def _parity_facts(report: dict[str, Any]) -> dict[str, Any]:
    divergence = (report.get("localization") or {}).get("first_divergence")
    return {
        "status": report["status"],
        "spec": report["spec"],
        "device": report["device"],
        "dtype": report["dtype"],
        "outputs": [
            {k: o.get(k) for k in ("name", "max_abs", "mean_abs", "cosine", "passed")} for o in report["outputs"]
        ],
        "first_divergence": divergence,
        "summary": report["summary"],
        "files": report.get("files", {}),
        "seconds": (report.get("timings") or {}).get("total_s"),
    }


def _run_in_tree(tree: Path, command: list[str], *, timeout_s: float) -> subprocess.CompletedProcess:
    """A command run as a contributor runs it in the tree: its `src/` first on the path, offline, on CPU, and
    leaving no `__pycache__` behind (an untracked file would join the change)."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HF_HUB_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    return subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True, timeout=timeout_s)


def read_junit(path: Path) -> dict[str, Any]:
    """pytest's own counts from its JUnit XML, per test file, with why each skipped test did not run."""
    from xml.etree import ElementTree

    files: dict[str, dict[str, int]] = {}
    reasons: dict[str, int] = {}
    failing: list[str] = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        # A module-level skip has no class: its name is the module, its reason is in the element's text.
        module = case.get("classname") or case.get("name", "")
        parts = module.split(".")
        while parts and parts[-1][:1].isupper():  # drop the class names: `tests.x.test_y.TestZ` -> the module
            parts.pop()
        counts = files.setdefault("/".join(parts) + ".py", {"passed": 0, "failed": 0, "errors": 0, "skipped": 0})
        if case.find("skipped") is not None:
            counts["skipped"] += 1
            skipped = case.find("skipped")
            found = re.search(r"Skipped: (.*?)['\"]?\)?$", (skipped.text or "").strip())
            reason = found.group(1) if found else (skipped.get("message") or "").removeprefix("Skipped: ")
            reasons[reason] = reasons.get(reason, 0) + 1
        elif case.find("failure") is not None:
            counts["failed"] += 1
            failing.append(f"{module}::{case.get('name')}")
        elif case.find("error") is not None:
            counts["errors"] += 1
            failing.append(f"{module}::{case.get('name')}")
        else:
            counts["passed"] += 1
    totals = {key: sum(counts[key] for counts in files.values()) for key in ("passed", "failed", "errors", "skipped")}
    return {**totals, "files": files, "skip_reasons": reasons, "failing": failing, "junit": str(path)}


def _image_facts(path: Path) -> dict[str, Any]:
    from PIL import Image, ImageStat

    with Image.open(path) as image:
        image.load()
        std = max(ImageStat.Stat(image.convert("RGB")).stddev)
        return {"width": image.width, "height": image.height, "mode": image.mode, "std": round(std, 2)}


def _diff_counts(before: str, after: str) -> tuple[int, int]:
    import difflib

    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    return added, removed


def _tail(done: subprocess.CompletedProcess, lines: int = 6) -> str:
    text = (done.stderr or "") + (done.stdout or "")
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _say(text: str) -> None:
    print(text, flush=True)
