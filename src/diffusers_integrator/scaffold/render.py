"""Renders the scaffold's templates (Jinja2, shipped in `scaffold/templates/`).

Templates are diffusers source files with a few `{{ name }}` holes and `{% if %}` branches; rendering is pure
(same request, same text), which is what makes a repeated scaffold a no-op.
"""

from __future__ import annotations

import datetime
import re
from functools import cache
from pathlib import Path
from typing import Any


_TEMPLATES = Path(__file__).resolve().parent / "templates"
LINE_LENGTH = 119  # diffusers' ruff line length


@cache
def _environment():
    import jinja2  # only the scaffold needs it; keep it off the server's start-up path

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.globals["import_from"] = import_from
    environment.globals["class_header"] = class_header
    return environment


def render(template: str, **context: Any) -> str:
    """Renders `templates/<template>` with `context`; the license header is always available as `license`."""
    context.setdefault("license", license_header())
    text = _environment().get_template(template).render(**context)
    # Templates never end a file on blank lines; ruff's W391 would flag them.
    return text.rstrip("\n") + "\n"


def import_from(module: str, names: list[str], line_length: int = LINE_LENGTH) -> str:
    """`from module import a, b` on one line when it fits, else exploded, exactly as ruff formats it."""
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= line_length:
        return line
    return f"from {module} import (\n" + "".join(f"    {name},\n" for name in names) + ")"


def class_header(name: str, bases: list[str], line_length: int = LINE_LENGTH) -> str:
    """`class Name(Base, ...):`, split over lines the way ruff splits a header that is too long."""
    line = f"class {name}({', '.join(bases)}):"
    if len(line) <= line_length:
        return line
    inner = "    " + ", ".join(bases)
    if len(inner) <= line_length:
        return f"class {name}(\n{inner}\n):"
    return f"class {name}(\n" + "".join(f"    {base},\n" for base in bases) + "):"


def wrap_class_headers(text: str, line_length: int = LINE_LENGTH) -> str:
    """Re-splits one-line class headers that are longer than the line length (upstream's generator writes them)."""
    out = []
    for line in text.splitlines():
        match = re.match(r"^class (\w+)\(([^()]*)\):$", line)
        if match and len(line) > line_length:
            bases = [base.strip() for base in match.group(2).split(",") if base.strip()]
            line = class_header(match.group(1), bases, line_length)
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def license_header(year: int | None = None) -> str:
    """The Apache-2.0 header every diffusers source file starts with."""
    year = year or datetime.date.today().year
    return "\n".join(
        [
            f"# Copyright {year} The HuggingFace Team. All rights reserved.",
            "#",
            '# Licensed under the Apache License, Version 2.0 (the "License");',
            "# you may not use this file except in compliance with the License.",
            "# You may obtain a copy of the License at",
            "#",
            "#     http://www.apache.org/licenses/LICENSE-2.0",
            "#",
            "# Unless required by applicable law or agreed to in writing, software",
            '# distributed under the License is distributed on an "AS IS" BASIS,',
            "# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.",
            "# See the License for the specific language governing permissions and",
            "# limitations under the License.",
        ]
    )
