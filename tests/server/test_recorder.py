"""Session traces as the server records them: a scripted session's trace, line for line, secrets that never
reach it, and no trace where there is no checkout."""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
from mcp import Client

from diffusers_integrator import __version__

from ..mcp_helpers import call, call_error
from .helpers import MODES, PROTOCOL, ScriptedHuman, accept, server_with_a_write_tool


FAKE_HF = "hf_FAKEfakeFAKEfake0123456789abcd"
FAKE_ANTHROPIC = "sk-ant-api03-FAKEfakeFAKEfake0123456789"
FAKE_PASSWORD = "correct-horse-battery-staple"  # shaped like nothing: only the environment says it is secret

QUESTION = {
    "header": "Reference",
    "question": "Which repository is the reference implementation?",
    "options": [
        {"label": "Official repo", "description": "github.com/example/tiny-video-dit", "recommended": True},
        {"label": "Community port", "description": "A fork with a diffusers-like API."},
    ],
}
PLAN = {
    "model_name": "Tiny Video DiT",
    "reference_repo": "https://github.com/example/tiny-video-dit",
    "reference_script": "inference.py",
    "workflows": ["text-to-video"],
    "pipeline_style": "modular",
    "components": [{"name": "TinyVideoTransformer3DModel", "kind": "model", "action": "add"}],
    "files": ["src/diffusers/models/transformers/transformer_tiny_video.py"],
    "parity": [{"target": "transformer forward", "metric": "max_abs_diff", "threshold": 0.001}],
    "notes": f"Weights need HF_TOKEN={FAKE_HF}; the mirror password is {FAKE_PASSWORD}.",
}


def _lines(path: Path) -> list[dict]:
    """The trace with the times taken out (they differ on every run)."""
    lines = [json.loads(raw) for raw in path.read_text().splitlines()]
    for line in lines:
        line.pop("started" if line["kind"] == "header" else "time")
        line.pop("duration_ms", None)
    return lines


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_scripted_session_trace(workspace: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", FAKE_HF)
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_ANTHROPIC)
    monkeypatch.setenv("MIRROR_PASSWORD", FAKE_PASSWORD)
    human = ScriptedHuman(
        [
            accept(q1="Official repo", q1_note=f"use my token {FAKE_ANTHROPIC}"),
            accept(decision="accept"),
        ]
    )
    server = server_with_a_write_tool(workspace, monkeypatch)
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        asked = await call(client, "ask_user_question", {"questions": [QUESTION]})
        await call_error(client, "write_note", {"path": "NOTES.md", "text": "early"})
        planned = await call(client, "confirm_plan", PLAN)
        await call(client, "write_note", {"path": "NOTES.md", "text": f"token {FAKE_HF}\n"})
        await call_error(
            client, "record_answer", {"plan_id": "plan-7", "verdict": "accept", "human_reply": f"yes {FAKE_PASSWORD}"}
        )
        await call(client, "job_status", {"wait_s": 0})

    # Ids are random (no client can name another's plan): take them from the answers.
    questions_id, plan_id = asked["question_set_id"], planned["plan_id"]
    assert questions_id.startswith("questions-") and plan_id.startswith("plan-") and len(plan_id) > 10
    session = server.integrator_session
    path = session.traces.path
    assert path == workspace / ".diffusers-integrator" / "sessions" / f"{session.session_id}.jsonl"
    raw = path.read_text()
    for secret in (FAKE_HF, FAKE_ANTHROPIC, FAKE_PASSWORD, "FAKEfake"):
        assert secret not in raw
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True, text=True).stdout.strip()
    option_1 = {"label": "Official repo", "description": "github.com/example/tiny-video-dit", "recommended": True}
    option_2 = {"label": "Community port", "description": "A fork with a diffusers-like API.", "recommended": False}
    answers = [
        {
            "question_id": "q1",
            "header": "Reference",
            "selected": ["Official repo"],
            "note": "use my token [redacted:$ANTHROPIC_API_KEY]",
        }
    ]
    approval = {
        "kind": "approval",
        "plan_id": plan_id,
        "plan_digest": None,  # filled in below, from the arguments
        "form": "answered",
        "via": "elicitation",
        "verdict": "accept",
        "note": None,
        "plan_status": "approved",
    }
    expected = [
        {
            "kind": "header",
            "format": 1,
            "session_id": session.session_id,
            "product": "diffusers-integrator",
            "product_version": __version__,
            "diffusers_version": version("diffusers"),
            "base_commit": head,
            "head_commit": head,
            "branch": "main",
            "protocol_version": PROTOCOL[mode],
            "read_only": False,
            "require_approval": True,
        },
        {
            "kind": "call",
            "seq": 1,
            "tool": "ask_user_question",
            "arguments": {
                "questions": [
                    {
                        "header": "Reference",
                        "question": "Which repository is the reference implementation?",
                        "options": [option_1, option_2],
                        "multi_select": False,
                    }
                ]
            },
            "result": {
                "question_set_id": questions_id,
                "form": "answered",
                "via": "elicitation",
                "answers": answers,
                "ask_in_chat": [],
                "next_step": "Act on these answers. Do not ask the same questions again.",
            },
            "error": None,
            "is_error": False,
            "interaction": {
                "kind": "answers",
                "question_set_id": questions_id,
                "form": "answered",
                "via": "elicitation",
                "answers": answers,
            },
        },
        {
            "kind": "call",
            "seq": 2,
            "tool": "write_note",
            "arguments": {"path": "NOTES.md", "text": "early"},
            "result": None,
            "error": "`write_note` writes to the checkout, and no plan has been approved in this session. Gather the "
            "facts with ask_user_question, then call confirm_plan and get the plan accepted first.",
            "is_error": True,
            "interaction": {"kind": "write", "approved_plan": None},
        },
        {
            "kind": "call",
            "seq": 3,
            "tool": "confirm_plan",
            "arguments": {
                "model_name": "Tiny Video DiT",
                "reference_repo": "https://github.com/example/tiny-video-dit",
                "reference_script": "inference.py",
                "workflows": ["text-to-video"],
                "pipeline_style": "modular",
                "components": [{"name": "TinyVideoTransformer3DModel", "kind": "model", "action": "add", "note": ""}],
                "files": ["src/diffusers/models/transformers/transformer_tiny_video.py"],
                "parity": [
                    {
                        "target": "transformer forward",
                        "metric": "max_abs_diff",
                        "threshold": 0.001,
                        "device": "cpu",
                        "dtype": "float32",
                    }
                ],
                "notes": "Weights need HF_TOKEN=[redacted:$HF_TOKEN]; the mirror password is [redacted:$MIRROR_PASSWORD].",
            },
            "result": {
                "plan_id": plan_id,
                "plan_digest": approval["plan_digest"],
                "form": "answered",
                "via": "elicitation",
                "verdict": "accept",
                "note": None,
                "plan_status": "approved",
                "may_write": True,
                "plan_markdown": None,
                "next_step": f"{plan_id} is approved; write tools are allowed now. Read it back any time at "
                "plan://current.",
            },
            "error": None,
            "is_error": False,
            "interaction": approval,
        },
        {
            "kind": "call",
            "seq": 4,
            "tool": "write_note",
            "arguments": {"path": "NOTES.md", "text": "token [redacted:$HF_TOKEN]\n"},
            "result": {
                "change": {
                    "path": "NOTES.md",
                    "action": "created",
                    "diff": "--- /dev/null\n+++ b/NOTES.md\n@@ -0,0 +1 @@\n+token [redacted:$HF_TOKEN]\n",
                }
            },
            "error": None,
            "is_error": False,
            "interaction": {"kind": "write", "approved_plan": plan_id},
        },
        {
            "kind": "call",
            "seq": 5,
            "tool": "record_answer",
            "arguments": {
                "question_set_id": None,
                "answers": [],
                "plan_id": "plan-7",
                "plan_digest": None,
                "verdict": "accept",
                "note": None,
                "human_reply": "yes [redacted:$MIRROR_PASSWORD]",
            },
            "result": None,
            "error": f"No plan 'plan-7' in this session (known: {plan_id}). Pass the plan_id that confirm_plan returned.",
            "is_error": True,
            "interaction": None,
        },
        {
            "kind": "call",
            "seq": 6,
            "tool": "job_status",
            "arguments": {"job_id": None, "wait_s": 0.0},
            "result": {
                "job": None,
                "result": None,
                "jobs": [],
                "next_step": "This session has started no background job.",
            },
            "error": None,
            "is_error": False,
            "interaction": None,
        },
    ]
    # The digest identifies the plan as the human saw it: sha256 of its canonical JSON (secrets included).
    canonical = expected[3]["arguments"] | {"notes": PLAN["notes"]}
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    approval["plan_digest"] = expected[3]["result"]["plan_digest"] = digest
    assert _lines(path) == expected
    # The secret really was in what the tools saw: only the trace is scrubbed, not the work.
    assert (workspace / "NOTES.md").read_text() == f"token {FAKE_HF}\n"


@pytest.mark.anyio
async def test_no_checkout_means_no_trace_and_no_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from diffusers_integrator.server import build_server
    from diffusers_integrator.server.session import ServerOptions

    monkeypatch.chdir(tmp_path)
    server = build_server(ServerOptions(checkout=tmp_path))  # not a diffusers tree
    async with Client(server, mode="legacy") as client:
        result = await call(client, "job_status", {"wait_s": 0})
    assert result["jobs"] == [] and server.integrator_session.traces.path is None
    assert not (tmp_path / ".diffusers-integrator").exists()
