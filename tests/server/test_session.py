"""The session's write gate: off without --require-approval, shut by --read-only, and scoped to the client that
obtained the approval (each MCP session over HTTP; the one client over stdio)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.server import build_server, tool_specs
from diffusers_integrator.server.session import READ_ONLY_ACCESS, ServerOptions

from ..mcp_helpers import call, call_error
from .helpers import PLAN, http_server


def test_gate_off_without_require_approval(workspace: Path) -> None:
    from diffusers_integrator.server.session import IntegratorSession

    IntegratorSession(ServerOptions(checkout=workspace, require_approval=False)).ensure_may_write("scaffold")
    with pytest.raises(Exception, match="runs with --read-only"):
        IntegratorSession(ServerOptions(checkout=workspace, read_only=True)).ensure_may_write("scaffold")


@pytest.mark.anyio
async def test_read_only_lists_no_tool_that_writes_runs_code_or_leaves_files() -> None:
    """Issue 15 #3: under --read-only, run_parity (which executes the spec) and convert_weights (which writes)
    were listed and ran."""
    async with Client(build_server(ServerOptions(read_only=True)), mode="legacy") as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        refused = await call_error(client, "run_parity", {"spec": ".diffusers-integrator/specs/a.py"})
    assert listed == {spec.name for spec in tool_specs() if spec.access in READ_ONLY_ACCESS}
    assert not listed & {"run_parity", "convert_weights", "make_quality", "scaffold", "register_lazy_import"}
    assert "Unknown tool" in refused


async def _plan_resource(client: Client) -> dict:
    return json.loads((await client.read_resource("plan://current")).contents[0].text)


@pytest.mark.anyio
async def test_over_http_an_approval_opens_writes_for_its_own_session_only(workspace: Path) -> None:
    """Issue 15 #4: over HTTP, one client's approved plan opened writes for every client."""
    harmless_write = {"names": ["NoSuchNameAnywhere"]}  # passes the gate, then finds nothing to remove
    with http_server(workspace) as url:
        async with Client(url, mode="legacy") as alice, Client(url, mode="legacy") as bob:
            shown = await call(alice, "confirm_plan", PLAN)
            accepted = await call(
                alice,
                "record_answer",
                {
                    "plan_id": shown["plan_id"],
                    "plan_digest": shown["plan_digest"],
                    "verdict": "accept",
                    "human_reply": "Go ahead.",
                },
            )
            bob_write = await call_error(bob, "unregister_lazy_import", harmless_write)
            bob_steal = await call_error(
                bob,
                "record_answer",
                {"plan_id": shown["plan_id"], "verdict": "accept", "human_reply": "yes (said nobody)"},
            )
            bob_sees = await _plan_resource(bob)
            alice_write = await call(alice, "unregister_lazy_import", harmless_write)
            alice_sees = await _plan_resource(alice)
        # A 2026-07-28 client keeps no session over HTTP: nothing could hold its approval, so it cannot write.
        async with Client(url, mode="auto") as carol:
            carol_write = await call_error(carol, "unregister_lazy_import", harmless_write)
    assert accepted["may_write"] is True
    assert "no plan has been approved in this session" in bob_write
    assert f"No plan {shown['plan_id']!r} in this session" in bob_steal
    assert bob_sees["approved"] is False and alice_sees["approved"] is True
    assert alice_write["not_registered"] == ["NoSuchNameAnywhere"]
    assert "carries no MCP session" in carol_write and "stdio" in carol_write
