"""The human in the loop: structured questions, the integration plan, its approval, and answers given in chat.

The core modules here (`questions`, `plan`, `answers`, `approvals`, `forms`) are plain pydantic and know
nothing of MCP; `mcp_bridge` is the edge glue the server uses to ask the human through MCP elicitation.
"""
