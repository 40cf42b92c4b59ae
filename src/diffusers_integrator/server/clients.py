"""Which MCP client a call comes from: approvals, question sets, plans and jobs belong to the client that got them.

Over stdio (and in-process) a server process has exactly one client, so everything belongs to `local`, as it
always did. Over streamable HTTP one server serves many clients: each keeps its MCP session (the transport's
`Mcp-Session-Id`, which the SDK issues and routes by), and one client's approved plan opens writes for that
client alone. An HTTP request without a session (protocol 2026-07-28's single exchanges, or stateless HTTP)
belongs to no client: nothing it is given can be held for a later call, so the write gate stays shut for it.

The client of the call being served travels in a context variable, set by the server around each tool call
and resource read; worker threads started with `anyio.to_thread` inherit it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any


LOCAL_CLIENT = "local"
# None: an HTTP request with no MCP session to hold state for.
ClientKey = str | None

_CLIENT: ContextVar[ClientKey] = ContextVar("diffusers_integrator_client", default=LOCAL_CLIENT)


def client_of(ctx: Any) -> ClientKey:
    """The client a request comes from (see the module docstring)."""
    try:
        request = ctx.request_context.request
    except (AttributeError, ValueError):  # outside a request: an in-process caller
        return LOCAL_CLIENT
    if getattr(request, "headers", None) is None:  # stdio, in-process: the process has one client
        return LOCAL_CLIENT
    # The session id the SDK's transport assigned to this connection (not the request's header, which a
    # client may set on a request that has no session). mcp 2.3 keeps the connection on the request's
    # ServerSession; if a later SDK moves it, requests read as sessionless and writes stay shut (safe).
    connection = getattr(getattr(ctx, "session", None), "_connection", None)
    session_id = getattr(connection, "session_id", None)
    return f"http:{session_id}" if isinstance(session_id, str) and session_id else None


def current_client() -> ClientKey:
    """The client of the call being served (`local` outside one)."""
    return _CLIENT.get()


@contextlib.contextmanager
def serving(client: ClientKey) -> Iterator[None]:
    """Marks the code inside (and worker threads it starts with anyio) as serving `client`."""
    token = _CLIENT.set(client)
    try:
        yield
    finally:
        _CLIENT.reset(token)
