"""Errors the core raises for anticipated failures.

The edges (MCP server, CLI) turn an `IntegratorError` into a tool error or a non-zero exit with its message;
anything else is a bug. Every message says what was wrong and what to do instead.
"""


class IntegratorError(Exception):
    """A failure the caller can act on: the message names the problem and the fix."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} {fix}" if fix else problem)


class CheckoutError(IntegratorError):
    """The path is not a usable diffusers tree, or a path leaves it."""
