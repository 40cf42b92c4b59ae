"""`make demo`: the real server, over stdio, on a diffusers tree built from the installed package.

The demo is what a client sees: it starts `diffusers-integrator serve` as a child process, connects the MCP
SDK's client to it, and walks through what an agent does first. It prints a readable summary and exits
non-zero if any step fails, so it doubles as a smoke test of a fresh install.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from .workspace import build_tree


def run_demo(workdir: Path | None = None) -> int:
    """Builds the tree, runs the tour, prints the summary; returns the exit status."""
    with tempfile.TemporaryDirectory(prefix="diffusers-integrator-demo-") as temp:
        base = workdir or Path(temp)
        tree = base / "diffusers"
        if not (tree / "src" / "diffusers").is_dir():
            _say(f"Building a diffusers tree from the installed package in {tree} ...")
            build_tree(tree)
        return anyio.run(_tour, tree)


async def _tour(tree: Path) -> int:
    from mcp import Client, StdioServerParameters

    command = [sys.executable, "-m", "diffusers_integrator.cli", "serve", "--checkout", str(tree)]
    _say(f"Starting the server over stdio: {' '.join(command[2:])}")
    started = time.perf_counter()
    params = StdioServerParameters(command=command[0], args=command[1:])
    failures = 0
    async with Client(params) as client:
        info = client.server_info
        _say(
            f"Connected in {time.perf_counter() - started:.2f}s: {info.name} {info.version} "
            f"(protocol {client.protocol_version})"
        )
        tools = (await client.list_tools()).tools
        _section(f"{len(tools)} tools")
        for tool in tools:
            hints = tool.annotations
            kind = "read-only" if hints and hints.read_only_hint else "writes"
            _say(f"  {tool.name:<24} {kind:<9} {tool.description.splitlines()[0][:80]}")
        prompts = (await client.list_prompts()).prompts
        _section(f"{len(prompts)} prompts")
        for prompt in prompts:
            _say(f"  /{prompt.name}: {(prompt.description or '').splitlines()[0][:90] if prompt.description else ''}")
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        _section(f"{len(resources)} resources, {len(templates)} resource templates")
        for resource in resources[:12]:
            _say(f"  {resource.uri}")
        for template in templates:
            _say(f"  {template.uri_template}")

        _section("inspect_checkout")
        result = await client.call_tool("inspect_checkout", {})
        if result.is_error:
            failures += 1
            _say(f"  FAILED: {result.content[0].text}")
        else:
            survey: dict[str, Any] = result.structured_content
            _say(f"  tree: {survey['root']} ({survey['layout']}, diffusers {survey['diffusers_version']})")
            _say(
                f"  git: {survey['git']['branch']} @ {str(survey['git']['head'])[:12]}, "
                f"{len(survey['git']['changed'])} changed files"
            )
            _say(f"  contents: {json.dumps(survey['counts'])}")
            _say(f"  upstream helpers missing here: {len(survey['helpers_missing'])} (a wheel has no Makefile/utils)")
            _say(f"  next step: {survey['next_step']}")

        _section("write gate")
        gated = next((tool.name for tool in tools if tool.name == "register_lazy_import"), None)
        if gated:
            symbol = {"name": "FooTransformer2DModel", "module": "diffusers.models.transformers.transformer_foo"}
            result = await client.call_tool(gated, {"symbols": [symbol]})
            refused = result.is_error and "plan" in result.content[0].text
            failures += 0 if refused else 1
            _say(
                f"  {gated} before an approved plan -> {'refused' if refused else 'NOT refused'}: "
                f"{result.content[0].text[:140]}"
            )
    _section("summary")
    _say("demo passed" if not failures else f"demo FAILED ({failures} step(s))")
    return 0 if not failures else 1


def _section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _say(text: str) -> None:
    print(text, flush=True)
