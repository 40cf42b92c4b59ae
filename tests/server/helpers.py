"""Shared by the server tests: a scripted human that answers elicitation forms the way a client would and keeps
what it was shown, the questions and plan it answers, a server with one write tool, and the shipped skills."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from diffusers_integrator.checkout import FileChange
from diffusers_integrator.server import build_server
from diffusers_integrator.server.app import add_tool
from diffusers_integrator.server.session import ServerOptions
from diffusers_integrator.server.spec import ToolSpec


MODES = ["auto", "legacy"]
PROTOCOL = {"auto": "2026-07-28", "legacy": "2025-11-25"}
SHIPPED = {"integrating-models", "parity-testing", "modular-conversion"}  # the skills the package ships


@dataclass
class ScriptedHuman:
    """An `elicitation_callback` that gives the scripted replies in order and records every form."""

    replies: list[types.ElicitResult]
    forms: list[types.ElicitRequestFormParams] = field(default_factory=list)

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams), params
        self.forms.append(params)
        return self.replies[len(self.forms) - 1]


def accept(**content: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content=content)


def decline() -> types.ElicitResult:
    return types.ElicitResult(action="decline")


def cancel() -> types.ElicitResult:
    return types.ElicitResult(action="cancel")


QUESTIONS: dict[str, Any] = {
    "questions": [
        {
            "header": "Pipeline style",
            "question": "Should the integration be a modular pipeline, a standard one, or both?",
            "options": [
                {"label": "Modular", "description": "Blocks that compose; the new default.", "recommended": True},
                {"label": "Standard", "description": "One DiffusionPipeline class per workflow."},
                {"label": "Both", "description": "Modular blocks plus standard pipelines."},
            ],
        },
        {
            "header": "Workflows",
            "question": "Which workflows should be integrated?",
            "multi_select": True,
            "options": [
                {"label": "text-to-video", "description": "Generate from a prompt."},
                {"label": "image-to-video", "description": "Animate a first frame."},
                {"label": "video-to-video", "description": "Restyle a clip."},
            ],
        },
    ]
}

PLAN: dict[str, Any] = {
    "model_name": "Tiny Video DiT",
    "reference_repo": "https://github.com/example/tiny-video-dit",
    "reference_script": "scripts/inference.py",
    "workflows": ["text-to-video", "image-to-video"],
    "pipeline_style": "modular",
    "components": [
        {"name": "TinyVideoTransformer3DModel", "kind": "model", "action": "add"},
        {"name": "AutoencoderKLWan", "kind": "model", "action": "reuse", "note": "same VAE as Wan 2.1"},
        {"name": "FlowMatchEulerDiscreteScheduler", "kind": "scheduler", "action": "reuse"},
    ],
    "files": [
        "src/diffusers/models/transformers/transformer_tiny_video.py",
        "src/diffusers/modular_pipelines/tiny_video/__init__.py",
    ],
    "parity": [
        {"target": "transformer forward", "metric": "max_abs_diff", "threshold": 1e-4},
        {
            "target": "text-to-video, 2 steps",
            "metric": "cosine",
            "threshold": 0.999,
            "device": "cuda",
            "dtype": "bfloat16",
        },
    ],
}


class WriteNote(BaseModel):
    path: str = Field(description="Where to write, relative to the checkout root.")
    text: str = Field(description="What to write.")


class Written(BaseModel):
    change: FileChange


def _write_note(session, request: WriteNote, progress) -> Written:
    return Written(change=session.checkout().write_text(request.path, request.text))


def server_with_a_write_tool(workspace: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> MCPServer:
    """The real server plus one real write tool (`write_note`), wired exactly as tool_specs() tools are."""
    server = build_server(ServerOptions(checkout=workspace, **options))
    spec = ToolSpec("write_note", "Write a note", WriteNote, Written, _write_note, "write")
    add_tool(server, spec, server.integrator_session, description="Write a note (test tool).")
    return server


CLI = [sys.executable, "-m", "diffusers_integrator.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def http_server(tree: Path) -> Iterator[str]:
    """`diffusers-integrator serve --transport http` on a free loopback port; yields its MCP URL."""
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--transport", "http", "--port", str(port), "--checkout", str(tree)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(timeout=10)
