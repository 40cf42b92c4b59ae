"""The agent runner: a lead agent with parity and review sub-agents on the Anthropic SDK, over our MCP server.

`roles.py` defines the agents once (prompt, skill, tools); `runner.py` runs them on the SDK's tool loop with our
server's tools (`local_tools.py` adds a confined editor and test runner), the human through MCP elicitation
(`humans.py`), costs and limits (`usage.py`), and cassettes for offline replay (`cassette.py`). `script.py`
turns a recorded eval case into a scripted cassette; `solver.py` makes the runner the solver of the eval task;
`plugin.py` writes the same roles as Claude Code subagents. docs/agents.md walks a live run.

Importing this package imports neither anthropic nor mcp: the modules that need them do.
"""
