"""The command-line edge: the same core functions as the MCP tools, for people and scripts.

Every sub-command parses its flags, calls one core function and prints its result (JSON with `--json`).
An `IntegratorError` prints its message and exits 2; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel

from . import __version__
from .errors import IntegratorError


def _serve(args: argparse.Namespace) -> int:
    from .server import ServerOptions, build_server

    options = ServerOptions(
        checkout=Path(args.checkout) if args.checkout else None,
        read_only=args.read_only,
        require_approval=args.require_approval,
    )
    server = build_server(options)
    logging.getLogger(__name__).info(
        "serving over %s (checkout=%s, read_only=%s, require_approval=%s)",
        args.transport,
        options.checkout or "<working directory>",
        options.read_only,
        options.require_approval,
    )
    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=args.host, port=args.port, streamable_http_path="/mcp")
    return 0


def _inspect(args: argparse.Namespace) -> BaseModel:
    from .checkout import Checkout
    from .checkout.offers import survey

    return survey(Checkout.find(args.checkout))


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(
        workdir=Path(args.workdir) if args.workdir else None, clone=Path(args.clone) if args.clone else None
    )


def _docs(args: argparse.Namespace) -> int:
    from .data import data_dir
    from .server.docgen import sync_docs

    root = data_dir("tools").parent
    if not (root / "pyproject.toml").is_file():
        raise IntegratorError("`docs` works on a source checkout of diffusers-integrator.", "Run it from the clone.")
    stale = sync_docs(root, write=args.write)
    if stale and not args.write:
        print("Generated docs are stale: " + ", ".join(stale), file=sys.stderr)
        print("Run `diffusers-integrator docs --write` and commit the result.", file=sys.stderr)
        return 1
    print(f"{'rewrote' if args.write else 'checked'} README tool list and docs/tools/*.md ({len(stale)} changed)")
    return 0


def _quality(args: argparse.Namespace) -> int:
    from .checkout import Checkout
    from .quality import QualityRequest, run_quality
    from .quality.text import render

    scope = args.scope[0] if args.scope in (["changed"], ["all"]) else args.scope
    request = QualityRequest(scope=scope, fix=args.fix, checks=args.checks, max_findings=args.max_findings)
    result = run_quality(Checkout.find(args.checkout), request)
    print(result.model_dump_json(indent=2) if args.json else render(result))
    return 0 if result.ok else 1


def _scaffold(args: argparse.Namespace) -> int:
    from .checkout import Checkout
    from .scaffold import ScaffoldRequest, scaffold
    from .scaffold.text import render

    request = ScaffoldRequest(
        model_name=args.model_name,
        component=args.component or ["transformer"],
        dims=args.dims,
        tasks=args.tasks,
        pipeline=args.pipeline,
        custom_scheduler=args.custom_scheduler,
        lora=args.lora,
        dry_run=args.dry_run,
    )
    result = scaffold(Checkout.find(args.checkout), request)
    print(result.model_dump_json(indent=2) if args.json else render(result, diffs=args.dry_run), end="")
    return 0


def _sessions(args: argparse.Namespace) -> int:
    from .checkout import Checkout
    from .traces import find_session, list_sessions, read_trace, render_sessions, render_trace

    checkout = Checkout.find(args.checkout)
    if args.action == "list":
        listing = list_sessions(checkout)
        print(listing.model_dump_json(indent=2) if args.json else render_sessions(listing))
    elif args.action == "score":
        from .evals import Expectations, render_scorecard, score_trace

        expectations = Expectations(
            names=args.name or None,
            parity_pass=args.parity_pass or [],
            parity_bugs={spec: [module] for spec, module in (item.split("=", 1) for item in args.parity_bug or [])},
        )
        card = score_trace(find_session(checkout, args.session), expectations)
        print(card.model_dump_json(indent=2) if args.json else render_scorecard(card))
        return 0 if card.full else 1
    else:
        trace = read_trace(find_session(checkout, args.session))
        print(trace.model_dump_json(indent=2) if args.json else render_trace(trace))
    return 0


def _skills(args: argparse.Namespace) -> int:
    from . import skills

    if args.action == "check":
        from .server import tool_specs

        # Each tool with its input schema's argument names: the skills' tool calls are checked against them.
        schemas = {spec.name: spec.request_model.model_json_schema().get("properties", {}) for spec in tool_specs()}
        findings = skills.check_skills({name: set(arguments) for name, arguments in schemas.items()})
        for finding in findings:
            print(finding.render())
        print(f"skills check: {len(findings)} finding(s) in {len(skills.load_skills())} skills")
        return 1 if findings else 0
    target = Path(args.dir).expanduser() if args.dir and not args.client else (args.client or "claude")
    project = args.dir if args.client else None
    action = {"install": skills.install_skills, "update": skills.update_skills, "remove": skills.remove_skills}
    change = action[args.action](target, project, names=args.name or None, force=args.force)
    if args.json:
        print(change.model_dump_json(indent=2))
    else:
        print(f"skills folder: {change.target}")
        for item in change.actions:
            print(f"  {item.name:<22} {item.action}")
    return 0


def _register(args: argparse.Namespace) -> BaseModel:
    from .checkout import Checkout
    from .registry import SymbolSpec, register_names

    symbols = [SymbolSpec(name=name, module=args.module, export=not args.no_export) for name in args.names]
    return register_names(Checkout.find(args.checkout), symbols, args.backend or None, dry_run=args.dry_run)


def _unregister(args: argparse.Namespace) -> BaseModel:
    from .checkout import Checkout
    from .registry import unregister_names

    return unregister_names(Checkout.find(args.checkout), args.names, dry_run=args.dry_run)


def _check_registration(args: argparse.Namespace) -> int:
    from .checkout import Checkout
    from .registry import check_registration

    report = check_registration(Checkout.find(args.checkout), args.name or None, max_findings=args.max_findings)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        for finding in report.findings:
            where = f"{finding.path}:{finding.line}" if finding.line else finding.path
            print(f"{where}: {finding.severity} [{finding.code}] {finding.message} Fix: {finding.fix}")
        print(report.summary)
    return 0 if report.ok else 1


def _print_changes(fn: Callable[[argparse.Namespace], BaseModel]) -> Callable[[argparse.Namespace], int]:
    """A write command: JSON with --json, else its summary and the diffs (what `git diff` would show)."""

    def run(args: argparse.Namespace) -> int:
        result = fn(args)
        if args.json:
            print(result.model_dump_json(indent=2))
            return 0
        for change in result.changes:
            if change.diff:
                print(change.diff, end="")
        print(result.summary)
        return 0

    return run


def _parity(args: argparse.Namespace) -> int:
    from .checkout import Checkout
    from .parity.run import RunParityRequest, run_parity

    checkout = Checkout.find(args.checkout)
    # A shell user names the spec from the working directory; the checkout's rules decide whether it may run.
    request = _request(
        RunParityRequest,
        spec=str(Path(args.spec).expanduser().resolve()),
        device=args.device,
        dtype=args.dtype,
        localize=not args.no_localize,
        timeout_s=args.timeout,
        host=args.host,
    )
    report = run_parity(checkout, request, _print_progress)
    print(report.model_dump_json(indent=2) if args.json else report.summary)
    return {"passed": 0, "failed": 1}.get(report.status, 2)


def _print_progress(done: float, total: float | None, message: str | None) -> None:
    print(f"[{done:.0f}/{total or '?'}] {message or ''}", file=sys.stderr, flush=True)


def _request(model: type[BaseModel], **fields: object) -> BaseModel:
    """The core request from the command's options; a bad value names its option."""
    from pydantic import ValidationError

    try:
        return model(**fields)
    except ValidationError as error:
        raise IntegratorError(f"Invalid arguments: {error}", "Fix the named option.") from None


def _convert(args: argparse.Namespace) -> int:
    from .checkout import Checkout
    from .parity.convert_weights import convert_weights, load_rules, render
    from .parity.convert_weights_schema import ConvertWeightsRequest

    checkout = Checkout.find(args.checkout)
    request = _request(  # paths from the working directory, as a shell user expects
        ConvertWeightsRequest,
        source=str(Path(args.source).expanduser().resolve()),
        rules=load_rules(args.rules),
        target=str(Path(args.target).expanduser().resolve()) if args.target else None,
        name=args.out,
        dtype=args.dtype,
        dry_run=args.dry_run,
        allow_incomplete=args.allow_incomplete,
    )
    result = convert_weights(checkout, request, _print_progress)
    print(result.model_dump_json(indent=2) if args.json else render(result))
    return 0 if result.complete else 1


def _eval(args: argparse.Namespace) -> int:
    if args.action in ("export-plugin", "tree"):
        from .evals.plugin_export import run_action

        return run_action(args)
    if args.action == "run":
        from .evals.report import render_markdown
        from .evals.run import cases_to_run, run_evals

        cases, left_out = cases_to_run(args.cases or None)
        if left_out:
            print(
                f"left out {len(left_out)} cases that start from upstream's clone (set DIFFUSERS_CLONE to run them)",
                file=sys.stderr,
            )
        summary = run_evals(
            [case.id for case in cases],
            model=args.model,
            workers=args.workers,
            report_dir=Path(args.report),
            epochs=args.epochs,
            keep_trees=args.keep_trees,
        )
        print(summary.model_dump_json(indent=2) if args.json else render_markdown(summary))
        return 0 if summary.as_expected else 1
    if args.action == "record":
        from .checkout import Checkout
        from .evals.cases import cases_dir
        from .evals.record import record_case

        root = Path(args.into) if args.into else cases_dir()
        folder = record_case(
            Checkout.find(args.checkout), args.case, root, session=args.session, title=args.title, prompt=args.prompt
        )
        print(f"recorded {folder}: replay it with `diffusers-integrator eval run {args.case}`")
        return 0
    from .evals.cases import load_cases

    for case in load_cases(args.cases or None):
        lowers = f"  lowers: {', '.join(case.lowers)}" if case.lowers else ""
        print(f"{case.id:<32} {case.kind:<14} {len(case.turns):>3} turns  {case.title}{lowers}")
    return 0


AGENT_RUN_HELP = """\
A live run, step by step (docs/agents.md has more):
  1. export ANTHROPIC_API_KEY=...   (read from the environment; never written to a record, log or cassette)
  2. a diffusers clone on a new branch, and the reference repo with its inference script
  3. diffusers-integrator agent run --checkout ~/diffusers --reference ~/research-repo \\
         --script ~/research-repo/infer.py --record my-run.jsonl
  4. the lead agent reads the checkout, asks you its questions and shows you the plan at this terminal
     (or answers come from --answers FILE); nothing is written before you accept the plan
  5. it writes the code, hands parity to the parity agent and the check to the review agent
  6. at the end: tokens and cost per agent; the run record, transcript and server trace under
     <checkout>/.diffusers-integrator/ (`sessions show` prints the trace), the cassette if --record

Cost: every reply is priced from its token usage (list prices per model family; cached prompt reads at a
tenth of the input price). A small model such as the bundled TinyDiT takes tens of replies; a real model
integration a hundred or more, roughly $3-10 on a Sonnet-class model and 1.7 times that on Opus. The run
stops at --budget-usd (default $25) or --max-turns (default 150 replies, all agents together); Ctrl-C stops
it too, and everything recorded so far is kept.

Offline: --replay CASSETTE answers from a cassette instead of the API (no key needed) while the server and
tools run for real; a request that differs from the recording stops the run with a diff. Try the shipped
one: `diffusers-integrator agent eval tinydit`.
Exit status: 0 done, 1 stopped by a limit, a cassette mismatch or an error, 130 Ctrl-C."""


def _agent(args: argparse.Namespace) -> int:
    if not args.verbose:  # one INFO line per API request would bury the agents' own lines
        logging.getLogger("httpx2").setLevel(logging.WARNING)
    if args.action == "run":
        return _agent_run(args)
    if args.action == "script":
        return _agent_script(args)
    if args.action == "plugin":
        from .agents.plugin import sync_plugin

        stale = sync_plugin(Path(args.dir) if args.dir else None, write=args.write)
        if stale and not args.write:
            print(f"The plugin is stale: {', '.join(stale)}. Run `agent plugin --write`.", file=sys.stderr)
            return 1
        print(f"{'rewrote' if args.write else 'checked'} the plugin's generated files ({len(stale)} changed)")
        return 0
    from .agents.solver import agent_runner, cassette_of
    from .evals.cases import load_cases
    from .evals.report import render_markdown
    from .evals.run import run_evals

    names = args.cases or [case.id for case in load_cases() if cassette_of(case.id).is_file()]
    mode = "live" if args.live else "cassette"
    solver = agent_runner(mode=mode, model=args.model, max_turns=args.max_turns, budget_usd=args.budget_usd)
    summary = run_evals(names, report_dir=Path(args.report), solver=solver)
    print(render_markdown(summary))
    return 0 if summary.as_expected else 1


def _agent_run(args: argparse.Namespace) -> int:
    import os

    from .agents.cassette import replay_defaults
    from .agents.runner import RunOptions, run

    defaults = replay_defaults(Path(args.replay)) if args.replay else {}
    paths = {}
    for name in ("reference", "script", "answers"):
        value = getattr(args, name)
        path = Path(value).expanduser().resolve() if value else defaults.get(name)
        if path is not None and not path.exists():
            raise IntegratorError(f"--{name} {value}: no such file or folder.", f"Check the path of --{name}.")
        paths[name] = path
    if not args.replay and (paths["reference"] is None or paths["script"] is None):
        raise IntegratorError(
            "A run needs the reference repo and its inference script.", "Pass --reference and --script."
        )
    if not args.replay and not os.environ.get("ANTHROPIC_API_KEY"):
        raise IntegratorError(
            "A live run needs an Anthropic API key, and ANTHROPIC_API_KEY is not set.",
            "Export it (it is never written to a record, log or cassette), or replay a cassette with --replay.",
        )
    if paths["answers"] is None and not sys.stdin.isatty():
        raise IntegratorError(
            "Nobody can answer the agent's questions: the input is not a terminal.",
            "Run it in a terminal, or pass --answers FILE (docs/agents.md shows its shape).",
        )
    options = RunOptions(
        checkout=Path(args.checkout or "."),
        reference=paths["reference"],
        script=paths["script"],
        answers=paths["answers"],
        prompt=args.prompt or defaults.get("prompt"),
        model=args.model,
        max_turns=args.max_turns,
        budget_usd=args.budget_usd,
        record=Path(args.record) if args.record else None,
        replay=Path(args.replay) if args.replay else None,
        case=defaults.get("case"),
    )
    result = run(options)
    if args.json:
        print(result.model_dump_json(indent=2))
    return {"done": 0, "interrupted": 130}.get(result.stop_reason, 1) if not result.unplayed else 1


def _agent_script(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    import anyio

    from .agents.script import cassettes_dir, script_cassette
    from .evals.cases import load_cases

    into = Path(args.into) if args.into else cassettes_dir()
    for case in load_cases(args.cases):
        workdir = Path(tempfile.mkdtemp(prefix=f"agent-script-{case.id}-"))
        try:
            say = print if args.verbose_run else (lambda line: None)
            result = anyio.run(script_cassette, case, workdir, into, say)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(
            f"{case.id}: {into / (case.id + '.jsonl')} ({result.turns} replies, delegations: "
            f"{', '.join(d.agent for d in result.delegations)})"
        )
    return 0


def _serve_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The top-level parser with only `serve`: what an MCP client starts on every connection needs no more."""
    parser = argparse.ArgumentParser(
        prog="diffusers-integrator",
        description="Skills, MCP tools and evals for integrating new models into Hugging Face diffusers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="Debug logging on stderr.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="Run the MCP server (stdio by default).")
    serve.add_argument("--checkout", help="Path of the diffusers clone (default: the working directory).")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default: loopback only).")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument(
        "--read-only",
        action="store_true",
        help="Offer only tools that neither write the checkout nor run code (no scaffold, quality or parity runs).",
    )
    serve.add_argument(
        "--require-approval",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Refuse every write until the human has accepted a plan with confirm_plan (default: on).",
    )
    serve.set_defaults(run=_serve)
    return parser, commands


def build_parser() -> argparse.ArgumentParser:
    parser, commands = _serve_parser()

    inspect_cmd = commands.add_parser("inspect", help="Describe a diffusers checkout (what inspect_checkout returns).")
    inspect_cmd.add_argument("--checkout", default=None)
    inspect_cmd.add_argument("--json", action="store_true")
    inspect_cmd.set_defaults(run=_printing(_inspect))

    demo = commands.add_parser(
        "demo", help="The whole TinyDiT integration through the real server, scored (installed diffusers or --clone)."
    )
    demo.add_argument("--workdir", help="Where to build the demo tree (default: a temporary folder).")
    demo.add_argument(
        "--clone",
        help="A diffusers git clone to build the tree from (default: $DIFFUSERS_CLONE, else the installed package); "
        "with one, every generated test runs.",
    )
    demo.set_defaults(run=_demo)

    quality = commands.add_parser("quality", help="Run the checkout's quality gates (what make_quality returns).")
    quality.add_argument("--checkout", default=None)
    quality.add_argument("--fix", action="store_true", help="Apply what `make style` + `make fix-copies` would.")
    quality.add_argument(
        "--scope", nargs="+", default=["changed"], metavar="changed|all|PATH", help="Default: changed files."
    )
    quality.add_argument("--checks", nargs="+", default=None, metavar="CHECK", help="Run only these checks.")
    quality.add_argument("--max-findings", type=int, default=200, help="Findings printed (default 200).")
    quality.add_argument("--json", action="store_true")
    quality.set_defaults(run=_quality)

    scaffold_cmd = commands.add_parser(
        "scaffold", help="Lay down every file of a new integration and register it (what the scaffold tool does)."
    )
    scaffold_cmd.add_argument("model_name", help="The model's name, e.g. Foo or my-model.")
    scaffold_cmd.add_argument(
        "--component",
        action="append",
        choices=["transformer", "autoencoder"],
        help="A new model component (repeatable; default: transformer).",
    )
    scaffold_cmd.add_argument("--dims", choices=["2d", "3d"], default="2d", help="2d images or 3d videos.")
    scaffold_cmd.add_argument(
        "--tasks",
        nargs="+",
        choices=["text2image", "image2image", "text2video", "image2video"],
        help="Workflows (default: text2image for 2d, text2video for 3d).",
    )
    scaffold_cmd.add_argument(
        "--pipeline", choices=["modular", "standard", "both", "none"], default="modular", help="Default: modular."
    )
    scaffold_cmd.add_argument("--custom-scheduler", action="store_true", help="Scaffold the model's own scheduler.")
    scaffold_cmd.add_argument(
        "--lora", action="store_true", help="Add LoRA support (PeftAdapterMixin + loader mixin)."
    )
    scaffold_cmd.add_argument("--dry-run", action="store_true", help="Show the names and every diff; write nothing.")
    scaffold_cmd.add_argument("--checkout", default=None, help="The diffusers clone (default: the working directory).")
    scaffold_cmd.add_argument("--json", action="store_true")
    scaffold_cmd.set_defaults(run=_scaffold)

    docs = commands.add_parser("docs", help="Check or rewrite the generated README tool list and docs/tools pages.")
    mode = docs.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="Exit 1 when a generated page is stale.")
    mode.add_argument("--write", action="store_true", help="Rewrite the generated pages.")
    docs.set_defaults(run=_docs)

    register = commands.add_parser("register", help="Register public names in every init and dummy file.")
    register.add_argument("module", help="Dotted module (diffusers.models.transformers.transformer_foo) or a path.")
    register.add_argument("names", nargs="+", help="The public names defined in that module.")
    register.add_argument("--no-export", action="store_true", help="Only the sub-package init, not `diffusers`.")
    register.add_argument("--backend", action="append", help="Override the inferred backends (repeatable).")
    unregister = commands.add_parser("unregister", help="Remove public names from every init and dummy file.")
    unregister.add_argument("names", nargs="+")
    for sub, fn in ((register, _register), (unregister, _unregister)):
        sub.add_argument("--dry-run", action="store_true", help="Print the diffs, write nothing.")
        sub.add_argument("--checkout", default=None)
        sub.add_argument("--json", action="store_true")
        sub.set_defaults(run=_print_changes(fn))
    check = commands.add_parser("check-registration", help="Every registration inconsistency, with its fix.")
    check.add_argument("--name", action="append", help="Only findings about this name (repeatable).")
    check.add_argument("--max-findings", type=int, default=50)
    check.add_argument("--checkout", default=None)
    check.add_argument("--json", action="store_true")
    check.set_defaults(run=_check_registration)

    parity = commands.add_parser(
        "parity", help="Run a parity spec and print its report (exit 0 pass, 1 fail, 2 error)."
    )
    parity.add_argument("spec", help="The spec file: reference(), candidate(), inputs() (parity-testing skill).")
    parity.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parity.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    parity.add_argument("--timeout", type=float, default=900.0, help="Seconds before the child process is killed.")
    parity.add_argument("--host", help="Run on user@host[:port] over SSH.")
    parity.add_argument("--no-localize", action="store_true", help="Compare outputs only (faster).")
    parity.add_argument(
        "--checkout",
        default=None,
        help="The diffusers clone (default: the working directory). The spec must be in "
        "it, outside src/, tests/, scripts/, docs/; the report goes to its .diffusers-integrator/reports/.",
    )
    parity.add_argument("--json", action="store_true")
    parity.set_defaults(run=_parity)

    convert = commands.add_parser(
        "convert",
        help="Convert a reference checkpoint with JSON rules into .diffusers-integrator/weights/ (what "
        "convert_weights does; exit 0 complete, 1 incomplete).",
    )
    convert.add_argument("source", help="The reference checkpoint: a file, a sharded *.index.json or a folder.")
    convert.add_argument("--rules", required=True, help="JSON list of rules (or a previous conversion.json).")
    convert.add_argument("--target", help="The folder save_pretrained wrote for a fresh diffusers model.")
    convert.add_argument("--out", help="Output name under .diffusers-integrator/weights/ (default: the source's).")
    convert.add_argument("--dtype", choices=["keep", "float32", "bfloat16", "float16"], default="keep")
    convert.add_argument("--dry-run", action="store_true", help="Report the coverage only; write nothing.")
    convert.add_argument("--allow-incomplete", action="store_true", help="Write even if the coverage is incomplete.")
    convert.add_argument("--checkout", default=None, help="The diffusers clone (default: the working directory).")
    convert.add_argument("--json", action="store_true")
    convert.set_defaults(run=_convert)

    skills_cmd = commands.add_parser("skills", help="Install, update, remove or check the shipped Agent Skills.")
    skill_actions = skills_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    skill_actions.add_parser("check", help="Validate the shipped skills (frontmatter, links, tool names).")
    for action, help_text in (
        ("install", "Copy the skills where your client reads them (default: Claude Code, .claude/skills)."),
        ("update", "Refresh the skills this tool installed; user-owned skills are never touched."),
        ("remove", "Remove the skills this tool installed, and nothing else."),
    ):
        sub = skill_actions.add_parser(action, help=help_text)
        client = sub.add_mutually_exclusive_group()
        client.add_argument("--claude", dest="client", action="store_const", const="claude", help=".claude/skills")
        client.add_argument("--agents", dest="client", action="store_const", const="agents", help=".agents/skills")
        client.add_argument("--cursor", dest="client", action="store_const", const="cursor", help=".cursor/skills")
        sub.add_argument(
            "--dir",
            help="With a client flag: the project folder (default: the working directory). Alone: the skills "
            "folder itself, e.g. ~/.claude/skills.",
        )
        sub.add_argument("--name", action="append", help="Only this skill (repeatable).")
        sub.add_argument("--force", action="store_true", help="Overwrite or remove managed skills you edited.")
        sub.add_argument("--json", action="store_true")
    skills_cmd.set_defaults(run=_skills)

    sessions = commands.add_parser("sessions", help="List or show the session traces recorded in a checkout.")
    session_actions = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, help_text in (
        ("list", "One line per session, oldest first."),
        ("show", "Every call of one session."),
        ("score", "Grade one session from its trace (asked and approved before writing, checks, parity)."),
    ):
        sub = session_actions.add_parser(action, help=help_text)
        if action != "list":
            sub.add_argument("session", nargs="?", default="latest", help="Session id or prefix (default: latest).")
        if action == "score":
            sub.add_argument("--name", action="append", help="A name whose registration must check clean.")
            sub.add_argument("--parity-pass", action="append", help="A parity spec that must pass.")
            sub.add_argument(
                "--parity-bug", action="append", help="SPEC=MODULE: a planted bug to be blamed on MODULE."
            )
        sub.add_argument("--checkout", default=None, help="The diffusers clone (default: the working directory).")
        sub.add_argument("--json", action="store_true")
    sessions.set_defaults(run=_sessions)
    evals = commands.add_parser("eval", help="Replay recorded integrations through the server and score the tree.")
    eval_actions = evals.add_subparsers(dest="action", required=True, metavar="ACTION")
    eval_run = eval_actions.add_parser(
        "run", help="Run cases (offline replay, or live with --model) and score them (exit 1 unless as expected)."
    )
    eval_run.add_argument("cases", nargs="*", help="Case ids or prefixes (default: every case in evals/cases).")
    eval_run.add_argument("--model", help="A live model, e.g. anthropic/claude-sonnet-4-5 (default: replay).")
    eval_run.add_argument("--workers", type=int, default=1, help="Cases run in parallel (default 1).")
    eval_run.add_argument("--epochs", type=int, default=1, help="Runs of each case (default 1).")
    eval_run.add_argument("--report", default="eval-report", help="Folder for the Inspect log and summary.md.")
    eval_run.add_argument("--keep-trees", action="store_true", help="Keep each case's tree (default: removed).")
    eval_run.add_argument("--json", action="store_true")
    eval_record = eval_actions.add_parser("record", help="Turn a session of a checkout into an eval case.")
    eval_record.add_argument("session", nargs="?", default=None, help="Session id or prefix (default: latest).")
    eval_record.add_argument("--case", required=True, help="The new case's id (its folder name).")
    eval_record.add_argument("--checkout", default=None, help="The diffusers clone (default: the working directory).")
    eval_record.add_argument("--into", help="Cases folder (default: this project's evals/cases).")
    eval_record.add_argument("--title", default="")
    eval_record.add_argument("--prompt", default="", help="What the human asked the agent to do.")
    eval_show = eval_actions.add_parser("show", help="List the cases: id, kind, turns, title.")
    eval_show.add_argument("cases", nargs="*")
    export = eval_actions.add_parser("export-plugin", help="Check or write the plugin's `claude plugin eval` suite.")
    export_mode = export.add_mutually_exclusive_group(required=True)
    export_mode.add_argument("--check", action="store_true", help="Exit 1 when the exported suite is stale.")
    export_mode.add_argument("--write", action="store_true", help="Rewrite plugin/evals/ from evals/cases/.")
    export.add_argument("--dir", help="The plugin folder (default: this project's plugin/).")
    eval_tree = eval_actions.add_parser("tree", help="Lay a case's starting tree in a folder (the suite's scaffold).")
    eval_tree.add_argument("case", help="The case id.")
    eval_tree.add_argument("--into", default=".", help="An empty folder (default: the working directory).")
    evals.set_defaults(run=_eval)

    agent = commands.add_parser("agent", help="Run the lead, parity and review agents on the Anthropic SDK.")
    agent_actions = agent.add_subparsers(dest="action", required=True, metavar="ACTION")
    agent_run = agent_actions.add_parser(
        "run",
        help="Integrate a model end to end with the agents (live, or replayed from a cassette).",
        description="The lead agent drives the integration over our MCP server (started on --checkout), asks "
        "you through forms at this terminal, and delegates parity and review to its sub-agents.",
        epilog=AGENT_RUN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    agent_run.add_argument("--checkout", default=None, help="The diffusers clone (default: the working directory).")
    agent_run.add_argument("--reference", help="The reference repo (the agents may read it, never write it).")
    agent_run.add_argument("--script", help="The reference's inference script.")
    agent_run.add_argument("--prompt", help="What you ask for (default: integrate the reference's model).")
    agent_run.add_argument("--model", help="The Claude model (default: claude-sonnet-5-5; a replay: the cassette's).")
    agent_run.add_argument("--max-turns", type=int, default=150, help="Replies, all agents together (default 150).")
    agent_run.add_argument("--budget-usd", type=float, default=25.0, help="Stop once this is spent (default 25).")
    agent_run.add_argument("--answers", help="Answer the forms from this YAML file (unattended runs).")
    cassette = agent_run.add_mutually_exclusive_group()
    cassette.add_argument("--record", metavar="CASSETTE", help="Record every API exchange to this file.")
    cassette.add_argument("--replay", metavar="CASSETTE", help="Answer from this cassette instead of the API.")
    agent_run.add_argument("--json", action="store_true", help="Print the run's result as JSON at the end.")
    agent_script = agent_actions.add_parser(
        "script", help="Make the scripted cassette of eval cases (the case's turns as the agents' replies)."
    )
    agent_script.add_argument("cases", nargs="+", help="Case ids, e.g. tinydit.")
    agent_script.add_argument("--into", help="Folder for the cassettes (default: this project's evals/cassettes).")
    agent_script.add_argument("--verbose-run", action="store_true", help="Print the scripted run as it goes.")
    agent_eval = agent_actions.add_parser(
        "eval", help="Score eval cases solved by the agents: from their cassettes, or live with --live."
    )
    agent_eval.add_argument("cases", nargs="*", help="Case ids (default: every case with a cassette).")
    agent_eval.add_argument("--live", action="store_true", help="Call the API (needs ANTHROPIC_API_KEY).")
    agent_eval.add_argument("--model", help="The Claude model for --live.")
    agent_eval.add_argument("--max-turns", type=int, default=150)
    agent_eval.add_argument("--budget-usd", type=float, default=25.0, help="Per case.")
    agent_eval.add_argument("--report", default="agent-eval-report", help="Folder for the Inspect log and summary.")
    agent_plugin = agent_actions.add_parser(
        "plugin", help="Check or write the plugin's generated files (skills, MCP config, manifests, subagents)."
    )
    plugin_mode = agent_plugin.add_mutually_exclusive_group(required=True)
    plugin_mode.add_argument("--check", action="store_true", help="Exit 1 when a generated file is stale.")
    plugin_mode.add_argument("--write", action="store_true", help="Rewrite the generated files.")
    agent_plugin.add_argument("--dir", help="The plugin folder (default: this project's plugin/).")
    agent.set_defaults(run=_agent)
    return parser


def _printing(fn: Callable[[argparse.Namespace], BaseModel]) -> Callable[[argparse.Namespace], int]:
    """Wraps a command that returns a result model: JSON with --json, else an indented summary."""

    def run(args: argparse.Namespace) -> int:
        result = fn(args)
        if getattr(args, "json", False):
            print(result.model_dump_json(indent=2))
        else:
            print(_human(result.model_dump(mode="json")))
        return 0

    return run


def _human(data: object, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(data, dict):
        lines = []
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{key}:")
                lines.append(_human(value, indent + 1))
            else:
                lines.append(f"{pad}{key}: {json.dumps(value) if not isinstance(value, str) else value}")
        return "\n".join(lines)
    if isinstance(data, list):
        return "\n".join(f"{pad}- {item}" if not isinstance(item, dict) else _human(item, indent) for item in data)
    return f"{pad}{data}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # `serve` starts for every client connection: it skips building the other commands' parsers.
    args = (_serve_parser()[0] if argv[:1] == ["serve"] else build_parser()).parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args)
    except IntegratorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
