"""One module per MCP tool, named as the tool and as its description `tools/<name>.md`.

Each module holds the tool's request model (with edge-only fields such as `wait_s`), its handler and its
`SPEC`; the work itself is a core function. `TOOLS` is the order `tools/list` shows them in.
"""

from __future__ import annotations

from ..spec import ToolSpec
from . import (
    ask_user_question,
    check_registration,
    confirm_plan,
    convert_weights,
    get_skill,
    inspect_checkout,
    inspect_checkpoint,
    job_status,
    list_skills,
    make_quality,
    record_answer,
    register_lazy_import,
    run_parity,
    scaffold,
    unregister_lazy_import,
)


TOOLS = (
    inspect_checkout,
    ask_user_question,
    record_answer,
    confirm_plan,
    list_skills,
    get_skill,
    scaffold,
    register_lazy_import,
    unregister_lazy_import,
    check_registration,
    make_quality,
    run_parity,
    inspect_checkpoint,
    convert_weights,
    job_status,
)


def tool_specs() -> list[ToolSpec]:
    """Every tool the server offers, in the order `tools/list` shows them."""
    return [module.SPEC for module in TOOLS]


__all__ = ["TOOLS", "ToolSpec", "tool_specs"]
