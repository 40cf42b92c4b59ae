"""Helpers for talking to the server exactly as a client does."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client


def wire(model: Any) -> Any:
    """A protocol object as it travels on the wire (camelCase, no nulls)."""
    return json.loads(model.model_dump_json(by_alias=True, exclude_none=True))


async def call(client: Client, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """Calls a tool and returns its structured result, failing the test with the message on a tool error."""
    result = await client.call_tool(name, arguments or {})
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def call_error(client: Client, name: str, arguments: dict[str, Any] | None = None) -> str:
    """Calls a tool that must fail and returns its error text."""
    result = await client.call_tool(name, arguments or {})
    assert result.is_error, f"{name} succeeded: {result.structured_content}"
    return result.content[0].text
