"""The MCP edge: the server, its per-session state (approvals, trace recorder, jobs) and one module per tool.

Only this package (and the CLI, which starts it) imports `mcp` on the server side; the core below it never
imports this package.
"""

from typing import Any

from .app import INSTRUCTIONS, build_server
from .session import IntegratorSession, ServerOptions


__all__ = ["INSTRUCTIONS", "IntegratorSession", "ServerOptions", "build_server", "tool_specs"]


def __getattr__(name: str) -> Any:
    # `tool_specs` imports every tool module: only for whoever asks (start-up lists tools from a manifest).
    if name == "tool_specs":
        from .tools import tool_specs

        return tool_specs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
