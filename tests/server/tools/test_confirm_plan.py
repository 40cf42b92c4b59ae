"""confirm_plan, the approved-plan resource and the approval gate, through a real MCP client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator.interact.plan import IntegrationPlan
from diffusers_integrator.server import build_server
from diffusers_integrator.server.session import ServerOptions

from ...mcp_helpers import call, call_error
from ..helpers import MODES, PLAN, PROTOCOL, ScriptedHuman, accept, cancel, decline, server_with_a_write_tool


async def _plan_resource(client: Client) -> dict:
    contents = (await client.read_resource("plan://current")).contents
    return json.loads(contents[0].text)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_accept_approves_and_opens_the_gate(workspace: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    human = ScriptedHuman([accept(decision="accept", note="Start with text-to-video.")])
    server = server_with_a_write_tool(workspace, monkeypatch)
    note = {"path": "NOTES.md", "text": "plan approved\n"}
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        assert client.protocol_version == PROTOCOL[mode]
        refused = await call_error(client, "write_note", note)
        assert "`write_note` writes to the checkout, and no plan has been approved in this session." in refused
        assert "call confirm_plan and get the plan accepted first" in refused
        assert (await _plan_resource(client))["approved"] is False

        result = await call(client, "confirm_plan", PLAN)
        assert result["form"] == "answered" and result["via"] == "elicitation"
        assert result["verdict"] == "accept" and result["note"] == "Start with text-to-video."
        assert result["plan_status"] == "approved" and result["may_write"] is True
        assert result["plan_digest"] == IntegrationPlan.model_validate(PLAN).digest()
        assert result["plan_markdown"] is None

        written = await call(client, "write_note", note)
        assert written["change"]["action"] == "created"
        assert (workspace / "NOTES.md").read_text() == "plan approved\n"

        resource = await _plan_resource(client)
    assert resource["approved"] is True and resource["plan_id"] == result["plan_id"]
    assert resource["via"] == "elicitation" and resource["note"] == "Start with text-to-video."
    assert resource["plan"] == IntegrationPlan.model_validate(PLAN).model_dump(mode="json")
    # The human saw the plan itself, and a required decision with titled options.
    (form,) = human.forms
    assert "Integration plan: Tiny Video DiT" in form.message
    assert "Workflows, in order: text-to-video → image-to-video" in form.message
    assert "- transformer forward: max_abs_diff <= 0.0001 (cpu, float32)" in form.message
    assert "- text-to-video, 2 steps: cosine >= 0.999 (cuda, bfloat16)" in form.message
    assert form.requested_schema["required"] == ["decision"]
    assert [o["const"] for o in form.requested_schema["properties"]["decision"]["oneOf"]] == [
        "accept",
        "amend",
        "decline",
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("decision", "status", "gate_says"),
    [
        ("decline", "declined", "the human declined {plan_id}"),
        ("amend", "amend_requested", "asked for changes to {plan_id}"),
    ],
)
async def test_decline_or_amend_in_the_form_keeps_the_lock(
    workspace: Path, mode: str, decision: str, status: str, gate_says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    human = ScriptedHuman([accept(decision=decision, note="Reuse the Wan VAE config, not a copy.")])
    server = server_with_a_write_tool(workspace, monkeypatch)
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        result = await call(client, "confirm_plan", PLAN)
        assert result["verdict"] == decision and result["plan_status"] == status and result["may_write"] is False
        assert "Reuse the Wan VAE config" in result["next_step"]
        refused = await call_error(client, "write_note", {"path": "NOTES.md", "text": "x"})
        gate_says = gate_says.format(plan_id=result["plan_id"])
        assert gate_says in refused and "(Reuse the Wan VAE config, not a copy.)" in refused
        assert "Revise the plan as the human asked, then call confirm_plan again" in refused
        # A verdict given in the form cannot be replaced by one "relayed" in chat.
        overwrite = await call_error(
            client, "record_answer", {"plan_id": result["plan_id"], "verdict": "accept", "human_reply": "ok fine"}
        )
        assert f"already gave a verdict on {result['plan_id']}" in overwrite
    assert not (workspace / "NOTES.md").exists()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("reply", "form"),
    [(decline, "declined"), (cancel, "cancelled"), (None, "not_shown")],
    ids=["decline", "cancel", "none"],
)
async def test_no_verdict_in_a_form_falls_back_to_chat(
    workspace: Path, mode: str, reply, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    human = ScriptedHuman([reply()]) if reply else None
    server = server_with_a_write_tool(workspace, monkeypatch)
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        result = await call(client, "confirm_plan", PLAN)
        assert result["form"] == form and result["verdict"] is None
        plan_id, digest = result["plan_id"], result["plan_digest"]
        assert result["plan_status"] == "awaiting_verdict" and result["may_write"] is False
        assert result["plan_markdown"] == IntegrationPlan.model_validate(PLAN).markdown(plan_id, digest)
        assert f"Plan digest: {digest}" in result["plan_markdown"]
        assert "Show `plan_markdown` to the human in the chat, verbatim" in result["next_step"]
        assert f"plan_digest={digest!r}" in result["next_step"] and "Nothing is approved" in result["next_step"]
        refused = await call_error(client, "write_note", {"path": "NOTES.md", "text": "x"})
        assert f"{plan_id} is still awaiting the human's verdict" in refused
        assert f"record_answer(plan_id={plan_id!r}, plan_digest={digest!r}" in refused

        amend_without_note = await call_error(
            client, "record_answer", {"plan_id": plan_id, "verdict": "amend", "human_reply": "change it"}
        )
        assert "needs the human's note" in amend_without_note
        recorded = await call(
            client,
            "record_answer",
            {"plan_id": plan_id, "plan_digest": digest, "verdict": "accept", "human_reply": "Looks right, go ahead."},
        )
        assert recorded["kind"] == "verdict" and recorded["plan_status"] == "approved" and recorded["may_write"]
        await call(client, "write_note", {"path": "NOTES.md", "text": "ok\n"})
        resource = await _plan_resource(client)
    assert human is None or len(human.forms) == 1
    assert resource["via"] == "chat" and resource["human_reply"] == "Looks right, go ahead."


@pytest.mark.anyio
async def test_invalid_plan_is_refused(module_workspace: Path) -> None:
    async with Client(build_server(ServerOptions(checkout=module_workspace)), mode="auto") as client:
        repeated = await call_error(client, "confirm_plan", PLAN | {"workflows": ["text-to-video", "text-to-video"]})
        no_parity = await call_error(client, "confirm_plan", PLAN | {"parity": []})
    assert "workflows lists an entry twice" in repeated
    assert "parity" in no_parity


@pytest.mark.anyio
@pytest.mark.parametrize("decision", ["decline", "amend"])
async def test_declining_a_newer_plan_revokes_the_older_approval(
    workspace: Path, decision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 #5: after an accepted plan, declining a newer one left may_write true while next_step said nothing
    was approved, and the next write passed. The newest verdict governs: the gate, may_write and next_step agree."""
    note = "Not this scope."
    human = ScriptedHuman([accept(decision="accept"), accept(decision=decision, note=note)])
    server = server_with_a_write_tool(workspace, monkeypatch)
    async with Client(server, mode="legacy", elicitation_callback=human) as client:
        first = await call(client, "confirm_plan", PLAN)
        await call(client, "write_note", {"path": "NOTES.md", "text": "under the first plan\n"})
        second = await call(client, "confirm_plan", PLAN | {"notes": "A wider scope."})
        refused = await call_error(client, "write_note", {"path": "NOTES.md", "text": "after the decline\n"})
        resource = await _plan_resource(client)
    assert second["may_write"] is False
    assert "Nothing is approved now" in second["next_step"]
    assert f"The approval of {first['plan_id']} no longer holds" in second["next_step"]
    assert "no plan is approved any more" in refused and f"revoked the approval of {first['plan_id']}" in refused
    assert resource["approved"] is False and resource["revoked_plan_id"] == first["plan_id"]
    assert (workspace / "NOTES.md").read_text() == "under the first plan\n"


@pytest.mark.anyio
async def test_an_approval_stays_in_force_while_a_newer_plan_awaits_its_verdict(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    human = ScriptedHuman([accept(decision="accept"), decline()])
    server = server_with_a_write_tool(workspace, monkeypatch)
    async with Client(server, mode="legacy", elicitation_callback=human) as client:
        first = await call(client, "confirm_plan", PLAN)
        pending = await call(client, "confirm_plan", PLAN | {"notes": "A wider scope."})
        await call(client, "write_note", {"path": "NOTES.md", "text": "still under the first plan\n"})
        declined = await call(
            client,
            "record_answer",
            {
                "plan_id": pending["plan_id"],
                "plan_digest": pending["plan_digest"],
                "verdict": "decline",
                "human_reply": "No, keep the first plan's scope.",
            },
        )
        refused = await call_error(client, "write_note", {"path": "NOTES.md", "text": "x"})
    # may_write and next_step say the same thing at every step.
    assert pending["plan_status"] == "awaiting_verdict" and pending["may_write"] is True
    assert f"{first['plan_id']}, approved earlier, stays in force" in pending["next_step"]
    assert declined["may_write"] is False and "Nothing is approved now" in declined["next_step"]
    assert "no plan is approved any more" in refused


def test_plan_and_question_set_ids_are_unguessable() -> None:
    from diffusers_integrator.interact.approvals import Approvals

    approvals = Approvals()
    plan = IntegrationPlan.model_validate(PLAN)
    ids = {approvals.new_plan(plan).id for _ in range(50)}
    assert len(ids) == 50 and all(len(plan_id) >= len("plan-") + 12 for plan_id in ids)
    assert "plan-1" not in ids and "plan-2" not in ids
