"""The MCP edge: the server, its per-session state (approvals, trace recorder, jobs) and one module per tool.

Only this package (and the CLI, which starts it) imports `mcp` on the server side; the core below it never
imports this package.
"""

from .app import INSTRUCTIONS, build_server
from .session import IntegratorSession, ServerOptions
from .tools import tool_specs


__all__ = ["INSTRUCTIONS", "IntegratorSession", "ServerOptions", "build_server", "tool_specs"]
