"""Property-based fuzzing of every tool's input schema through a real MCP client session (Hypothesis).

Arguments are drawn from each tool's own `inputSchema` (as `tools/list` publishes it): mostly well-formed
values, hostile strings (NUL bytes, `..`, absolute paths, ssh options, 5,000 characters, a secret), then
mutations (a field of the wrong type, a required field dropped, an unknown field). For every call:

* the server never dies: the call returns a result or a tool error, and the session still answers;
* an error names the field or says what to do: never a bare "Error executing tool X";
* nothing in the tree changes (git status stays clean outside `.diffusers-integrator/`): the gate is shut, so
  the only writes a call may make are the server's own working files;
* the answer stays under a size bound and never carries the secret the environment holds.

The fast run (part of `make test`) draws a few examples per tool; `-m slow` runs many more.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from .conftest import _fresh_copy


SECRET = "sk-ant-api03-FUZZfakeFUZZfakeFUZZ0123456789"
# What a client accepts (the server caps a result at 100k characters; the text content repeats it as JSON).
MAX_ANSWER_CHARS = 250_000
NASTY = [
    "",
    " ",
    "\n",
    "a\x00b",
    "x" * 300,
    "x" * 5000,
    "../../etc/passwd",
    "/etc/passwd",
    "-V",
    "-oProxyCommand=touch /tmp/fuzzed",
    "me@-oProxyCommand=x",
    ".git/config",
    "CON",
    "src/diffusers/__init__.py",
    "src/diffusers",
    ".diffusers-integrator/specs/spec.py",
    "diffusers.models.transformers.transformer_flux",
    "FluxTransformer2DModel",
    "job-00000000",
    "plan-1",
    "questions-1",
    "$(reboot)",
    "ü" * 40,
    "https://example.com/a?b=c",
    SECRET,
    f"path/{SECRET}.safetensors",
]
FIX_WORDS = re.compile(
    r"\b(Pass|Use|Give|Check|Retry|Fix|Write|Call|Restart|Point|Move|Remove|Download|Split|Connect|Revise|Show|"
    r"Gather|Ask|Name|Register|Start|Put|Keep|Rebase|Choose|Save|Run|Record|Follow|Omit|Shorten|Narrow)\b"
)


# ---------------------------------------------------------------------------------------------- strategies


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    options = [st.text(max_size=40), st.sampled_from(NASTY)]
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    return st.one_of(options)


def _values(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that fit `schema` (mostly: strings come hostile too)."""
    if "$ref" in schema:
        return _values(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, depth)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema and schema.get("type") != "string":
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_values(option, defs, depth) for option in schema[key]])
    kind = schema.get("type")
    if kind == "string":
        return _strings(schema)
    if kind == "integer":
        low, high = schema.get("minimum", -10), schema.get("maximum", 10_000)
        return st.one_of(st.integers(low, high), st.integers(-(2**40), 2**40))
    if kind == "number":
        low, high = schema.get("minimum", -10.0), schema.get("maximum", 1e4)
        return st.one_of(
            st.floats(low, min(high, 5.0), allow_nan=False), st.floats(allow_nan=False, allow_infinity=False)
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        if depth > 3:
            return st.just([])
        return st.lists(_values(schema.get("items", {}), defs, depth + 1), max_size=3)
    if kind == "object" or "properties" in schema:
        return _objects(schema, defs, depth)
    return _any_json()


def _objects(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    if depth > 3:
        return st.just({})
    return st.fixed_dictionaries(
        {name: _values(properties[name], defs, depth + 1) for name in properties if name in required},
        optional={name: _values(properties[name], defs, depth + 1) for name in properties if name not in required},
    )


def _any_json() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=6,
    )


@st.composite
def _arguments(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments for one call: well-formed-ish, or with one mutation (wrong type, dropped field, unknown field)."""
    defs = schema.get("$defs", {})
    arguments = draw(_objects(schema, defs))
    how = draw(st.sampled_from(["as drawn", "as drawn", "wrong type", "drop", "unknown field"]))
    properties = list(schema.get("properties", {}))
    if how == "wrong type" and properties:
        arguments[draw(st.sampled_from(properties))] = draw(_any_json())
    elif how == "drop" and arguments:
        arguments.pop(draw(st.sampled_from(sorted(arguments))))
    elif how == "unknown field":
        arguments[draw(st.sampled_from(["extra", "__proto__", "x" * 100]))] = draw(_any_json())
    # Never ask a background tool to wait long: a slow check is still checked, just not waited for.
    if (
        "wait_s" in arguments
        and isinstance(arguments["wait_s"], int | float)
        and not isinstance(arguments["wait_s"], bool)
    ):
        arguments["wait_s"] = min(max(arguments["wait_s"], 0), 2)
    return arguments


# ---------------------------------------------------------------------------------------------- the session


class FuzzSession:
    """One server and one client for a whole module, driven from Hypothesis' synchronous examples."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, client: Client, root: Path, schemas: dict):
        self.portal, self.client, self.root, self.schemas = portal, client, root, schemas

    def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        return self.portal.call(self.client.call_tool, tool, arguments)

    def tree_status(self) -> str:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return "\n".join(line for line in status.splitlines() if ".diffusers-integrator/" not in line)


def _schemas() -> dict[str, dict[str, Any]]:
    async def listing() -> dict[str, dict[str, Any]]:
        async with Client(build_server(), mode="legacy") as client:
            return {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}

    return anyio.run(listing)


SCHEMAS = _schemas()


@pytest.fixture(scope="module")
def fuzz(diffusers_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzSession]:
    root = _fresh_copy(diffusers_tree, tmp_path_factory.mktemp("fuzz") / "diffusers")
    previous = os.environ.get("ANTHROPIC_API_KEY")
    os.environ["ANTHROPIC_API_KEY"] = SECRET
    try:
        with anyio.from_thread.start_blocking_portal() as portal:
            server = build_server(ServerOptions(checkout=root))  # the gate is shut: no call may change the tree
            with portal.wrap_async_context_manager(Client(server, mode="legacy")) as client:
                yield FuzzSession(portal, client, root, SCHEMAS)
    finally:
        if previous is None:
            os.environ.pop("ANTHROPIC_API_KEY", None)
        else:
            os.environ["ANTHROPIC_API_KEY"] = previous


def _check_one_call(fuzz: FuzzSession, tool: str, arguments: dict[str, Any]) -> None:
    before = fuzz.tree_status()
    result = fuzz.call(tool, arguments)  # a protocol error or a dead server raises here
    text = "".join(getattr(block, "text", "") for block in result.content)
    answer = text + json.dumps(result.structured_content or {})
    shown = json.dumps(arguments)[:300]
    assert len(answer) < MAX_ANSWER_CHARS, f"{tool} answered {len(answer):,} characters for {shown}"
    assert SECRET not in answer, f"{tool} leaked the secret for {shown}"
    if result.is_error:
        assert text.strip() != f"Error executing tool {tool}", f"bare error for {shown}"
        fields = list(fuzz.schemas[tool].get("properties", {}))
        assert any(field in text for field in fields) or FIX_WORDS.search(text), f"{tool}: {text[:500]}"
    assert fuzz.tree_status() == before, f"{tool} changed the tree for {shown}"
    # The session still answers.
    assert not fuzz.call("list_skills", {}).is_error


FAST = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,  # the same examples on every run of `make test`; the slow run explores
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    database=None,
)
SLOW = settings(FAST, max_examples=150, derandomize=False)


@pytest.mark.parametrize("tool", sorted(SCHEMAS))
@FAST
@given(data=st.data())
def test_every_tool_survives_hostile_arguments(fuzz: FuzzSession, tool: str, data: st.DataObject) -> None:
    _check_one_call(fuzz, tool, data.draw(_arguments(SCHEMAS[tool]), label="arguments"))


@pytest.mark.slow
@pytest.mark.parametrize("tool", sorted(SCHEMAS))
@SLOW
@given(data=st.data())
def test_every_tool_survives_many_hostile_arguments(fuzz: FuzzSession, tool: str, data: st.DataObject) -> None:
    _check_one_call(fuzz, tool, data.draw(_arguments(SCHEMAS[tool]), label="arguments"))
