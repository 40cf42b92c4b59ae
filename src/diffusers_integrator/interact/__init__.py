"""The human in the loop: structured questions, the integration plan, its approval, and answers given in chat.

Plain pydantic that knows nothing of MCP: `questions` and `plan` build the forms, `approvals` is the session's
record of what was asked and decided, and `answers` applies the human's replies (from a form or from chat)
to it. The server's `elicitation` module is the glue that shows these forms through MCP.
"""
