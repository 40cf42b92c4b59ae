"""The LLM-facing description of each MCP tool, one Markdown file per tool in `tools/`.

Descriptions are product text, reviewed like code: keeping them in files (not docstrings) lets the README,
the docs and the server share one source, and lets a test prove every tool has exactly one.
"""

from __future__ import annotations

import re
from functools import cache

from pydantic import BaseModel

from ..data import data_dir
from ..errors import IntegratorError


class ToolDoc(BaseModel):
    name: str
    summary: str
    description: str


@cache
def load_tool_docs() -> dict[str, ToolDoc]:
    """Reads every `tools/<name>.md`: a `# <name>` heading, then the description."""
    docs: dict[str, ToolDoc] = {}
    for path in sorted(data_dir("tools").glob("*.md")):
        text = path.read_text(encoding="utf-8").strip()
        heading, _, body = text.partition("\n")
        name = heading.removeprefix("# ").strip()
        if not heading.startswith("# ") or name != path.stem:
            raise IntegratorError(
                f"tools/{path.name} must start with `# {path.stem}`.", "Fix the heading to name its tool."
            )
        description = body.strip()
        first_paragraph = description.split("\n\n")[0].replace("\n", " ")
        summary = re.split(r"(?<=[.])\s", first_paragraph, maxsplit=1)[0].rstrip(".") + "."
        docs[name] = ToolDoc(name=name, summary=summary, description=description)
    return docs


def tool_description(name: str) -> str:
    docs = load_tool_docs()
    if name not in docs:
        raise IntegratorError(f"tools/{name}.md is missing.", f"Write tools/{name}.md describing the `{name}` tool.")
    return docs[name].description
