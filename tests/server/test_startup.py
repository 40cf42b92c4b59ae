"""What `serve` defers past start-up, and that nothing a client sees changes for it: the skill channels and the
plan resource are registered on the first request that needs them (in the order they always had), the session's
parts are built on first use with its id still taken at start, and `serve` parses with its own parser exactly as
the full CLI parses it."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator import cli
from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import IntegratorSession, ServerOptions
from diffusers_integrator.skills import load_skills

from ..mcp_helpers import call
from .helpers import SHIPPED


DEFERRED = (
    "yaml",
    "diffusers_integrator.skills",
    "diffusers_integrator.checkout",
    "diffusers_integrator.interact.plan",
    "diffusers_integrator.interact.questions",
    "diffusers_integrator.interact.approvals",
    "diffusers_integrator.server.jobs",
    "diffusers_integrator.server.recorder",
    "diffusers_integrator.server.spec",
)


def test_serve_imports_none_of_what_a_first_request_needs(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from diffusers_integrator import cli\n"
        "cli._serve_parser()[0].parse_args(['serve'])\n"
        "from diffusers_integrator.server import build_server\n"
        "build_server()\n"
        f"print(sorted(m for m in sys.modules if m in {DEFERRED!r}))\n"
    )
    env = {**os.environ, "DIFFUSERS_INTEGRATOR_CACHE": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env) for _ in "12"]
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr
    assert ast.literal_eval(runs[1].stdout) == []  # the second start lists its tools from the manifest


def _skill_uris() -> list[str]:
    return [file.uri for skill in load_skills() for file in skill.files]


@pytest.mark.anyio
@pytest.mark.parametrize("first", ["resources", "templates", "prompts", "read", "prompt"])
async def test_the_first_request_that_needs_them_registers_skills_and_the_plan(first: str) -> None:
    async with Client(build_server(), mode="legacy") as client:
        if first == "resources":
            await client.list_resources()
        elif first == "templates":
            await client.list_resource_templates()
        elif first == "prompts":
            await client.list_prompts()
        elif first == "read":
            plan = json.loads((await client.read_resource("plan://current")).contents[0].text)
            assert plan["approved"] is False and "confirm_plan" in plan["next_step"]
        else:
            prompt = await client.get_prompt("parity-testing")
            assert "skill://parity-testing/" in prompt.messages[0].content.text
        resources = [str(resource.uri) for resource in (await client.list_resources()).resources]
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        prompts = [prompt.name for prompt in (await client.list_prompts()).prompts]
    assert resources == [*_skill_uris(), "plan://current"]  # the order of an eager start
    assert templates == ["skill://{name}/{+path}"]
    assert prompts == [skill.name for skill in load_skills()] and set(prompts) == SHIPPED


@pytest.mark.anyio
async def test_a_tool_call_first_still_traces_under_the_session_id_taken_at_start(workspace: Path) -> None:
    server = build_server(ServerOptions(checkout=workspace))
    session = server.integrator_session
    assert session._traces is None and session._jobs is None  # nothing built yet
    async with Client(server, mode="legacy") as client:
        await call(client, "inspect_checkout")
    assert session.session_id.startswith(session.started.strftime("%Y%m%dT%H%M%SZ-"))
    assert session.traces.started == session.started and session.jobs.session_id == session.session_id
    trace = workspace / ".diffusers-integrator" / "sessions" / f"{session.session_id}.jsonl"
    assert trace == session.traces.path and trace.is_file()


def test_the_session_builds_its_parts_once_whichever_thread_asks_first(workspace: Path) -> None:
    session = IntegratorSession(ServerOptions(checkout=workspace))
    seen: list[tuple[int, int]] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        seen.append((id(session.jobs), id(session.traces)))  # `jobs` asks for `traces` inside: no deadlock

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 8 and len(set(seen)) == 1


def _parsed(parser, argv: list[str]) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = sorted(vars(parser.parse_args(argv)).items(), key=lambda item: item[0])
        except SystemExit as exit_:
            result = ("exit", exit_.code)
    return result, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],
        ["serve", "--help"],
        ["serve", "--read-only", "--no-require-approval", "--checkout", "x"],
        ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", "9"],
        ["serve", "--transport", "sse"],
        ["serve", "--bogus"],
    ],
)
def test_serve_parses_with_its_own_parser_as_the_full_cli_does(argv: list[str]) -> None:
    assert _parsed(cli._serve_parser()[0], argv) == _parsed(cli.build_parser(), argv)
