"""Every new docs page is listed in its language's `_toctree.yml`, where upstream would list it.

diffusers' toctree is a YAML list of entries (`local`: the page path without `.md` relative to
`docs/source/<lang>/`, `title`) grouped in nested `sections`; the API sections are sorted by title
(case-insensitive), an "Overview" entry first. A missing page is reported at the toctree line where its entry
belongs: the section whose pages share its folder and most resemble its name, at its sorted place. `fix=true`
inserts the entry there as text, so every other byte of the file stays as it was.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..checkout import Checkout
from .models import Finding
from .scope import Scope


_FIXED_TITLES = {"overview", "autopipeline"}  # upstream keeps these first instead of sorting them
_PLAIN_TITLE = re.compile(r"[A-Za-z0-9][\w .()+/-]*")
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.M)


@dataclass
class Entry:
    local: str | None
    title: str
    first: int  # 0-based line of the entry's `- `
    last: int  # 0-based last line of the entry (nested sections included)
    column: int  # column of the `- `


@dataclass
class Placement:
    toctree: str
    page: str
    local: str
    title: str
    line: int  # 0-based line the new entry is inserted before
    column: int
    section: str
    known: bool  # False: no section lists pages of this folder; we cannot place it


def new_pages(checkout: Checkout, scope: Scope, toctree: str) -> list[str]:
    """Docs pages of the toctree's language that are new since the merge-base and in scope."""
    docs = Path(toctree).parent.as_posix()
    if scope.kind == "all":
        candidates = [
            checkout.rel(p) for p in sorted((checkout.root / docs).rglob("*")) if p.suffix in (".md", ".mdx")
        ]
    else:
        candidates = [f for f in scope.files if f.startswith(docs + "/") and f.endswith((".md", ".mdx"))]
    # A page is new when git sees it whole as added (untracked or created since the merge-base).
    return [page for page in candidates if not scope.is_git or scope.new_lines.get(page, False) is None]


def check_toctree(checkout: Checkout, scope: Scope, toctrees: list[str]) -> tuple[list[Finding], list[Placement]]:
    import yaml  # only this check reads YAML

    findings: list[Finding] = []
    placements: list[Placement] = []
    for toctree in toctrees:
        pages = new_pages(checkout, scope, toctree)
        if not pages:
            continue
        text = checkout.read_text(toctree)
        try:
            root = compose(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            findings.append(
                Finding(
                    check="toctree",
                    path=toctree,
                    line=(mark.line + 1) if mark else None,
                    col=(mark.column + 1) if mark else None,
                    code="toctree-invalid",
                    message=f"not valid YAML: {str(error).splitlines()[0]}",
                    fixable=False,
                )
            )
            continue
        sections = _sections(root, text.splitlines())
        listed = {entry.local for _, entries in sections for entry in entries if entry.local}
        docs = Path(toctree).parent.as_posix()
        for page in pages:
            local = page[len(docs) + 1 :].rsplit(".", 1)[0]
            if local in listed:
                continue
            place = _place(toctree, page, local, _title_of(checkout, page, local), sections, len(text.splitlines()))
            placements.append(place)
            entry = f"`- local: {local}` / `title: {place.title}`"
            findings.append(
                Finding(
                    check="toctree",
                    path=toctree,
                    line=place.line + 1,
                    col=place.column + 1,
                    code="toctree-missing",
                    message=(
                        f"{page} is not in the toctree: add {entry} here (section {place.section!r}, sorted by title)"
                        if place.known
                        else f"{page} is not in the toctree and no section lists pages of its folder: add {entry} "
                        "to the right section"
                    ),
                    fixable=place.known,
                )
            )
    return findings, placements


def insert_entries(checkout: Checkout, placements: list[Placement]) -> dict[str, str]:
    """New toctree contents with the placeable entries inserted (bottom-up, so earlier lines keep their place)."""
    out: dict[str, str] = {}
    for toctree in sorted({p.toctree for p in placements if p.known}):
        lines = checkout.read_text(toctree).splitlines(keepends=True)
        mine = sorted((p for p in placements if p.toctree == toctree and p.known), key=lambda p: (p.line, p.title))
        for place in reversed(mine):
            pad = " " * place.column
            lines[place.line : place.line] = [
                f"{pad}- local: {place.local}\n",
                f"{pad}  title: {_yaml_title(place.title)}\n",
            ]
        out[toctree] = "".join(lines)
    return out


def _yaml_title(title: str) -> str:
    return title if _PLAIN_TITLE.fullmatch(title) and not title.endswith(":") else json.dumps(title)


def _title_of(checkout: Checkout, page: str, local: str) -> str:
    text = checkout.read_text(page)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)  # the license header is an HTML comment
    match = _HEADING.search(text)
    return match.group(1).strip() if match else local.rsplit("/", 1)[-1]


def compose(text: str, fast: bool = True):
    """The YAML node tree of `text`, with line marks: libyaml's parser when PyYAML has it (15x faster on
    upstream's 2,000-line toctree, the same nodes and marks), else the pure-Python one."""
    import yaml

    loader = yaml.CSafeLoader if fast and getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
    return yaml.compose(text, Loader=loader)


def _sections(root, lines: list[str]) -> list[tuple[str, list[Entry]]]:
    """Every list of entries in the toctree, with the title of the section that holds it."""
    import yaml

    out: list[tuple[str, list[Entry]]] = []

    def walk(node, title: str) -> None:
        if not isinstance(node, yaml.SequenceNode):
            return
        entries: list[Entry] = []
        for item in node.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            values = {key.value: value for key, value in item.value if isinstance(key, yaml.ScalarNode)}
            local = values.get("local")
            name = values.get("title")
            last = item.end_mark.line - (1 if item.end_mark.column == 0 else 0)
            while last > item.start_mark.line and (not lines[last].strip() or lines[last].lstrip().startswith("#")):
                last -= 1
            entries.append(
                Entry(
                    local=local.value if isinstance(local, yaml.ScalarNode) else None,
                    title=name.value if isinstance(name, yaml.ScalarNode) else "",
                    first=item.start_mark.line,
                    last=last,
                    column=max(item.start_mark.column - 2, 0),
                )
            )
            if "sections" in values:
                walk(values["sections"], entries[-1].title)
        out.append((title, entries))

    walk(root, "<top level>")
    return out


def _tokens(local: str) -> set[str]:
    return {token for token in re.findall(r"[a-z]+", local.rsplit("/", 1)[-1].lower()) if len(token) >= 3}


def _place(
    toctree: str, page: str, local: str, title: str, sections: list[tuple[str, list[Entry]]], n_lines: int
) -> Placement:
    folder = local.rsplit("/", 1)[0] if "/" in local else ""
    mine = _tokens(local)
    best: tuple[tuple[int, int], str, list[Entry]] | None = None
    for name, entries in sections:
        same_folder = [
            e for e in entries if e.local and (e.local.rsplit("/", 1)[0] if "/" in e.local else "") == folder
        ]
        if not same_folder:
            continue
        score = (sum(1 for e in same_folder if mine & _tokens(e.local or "")), len(same_folder))
        if best is None or score > best[0]:
            best = (score, name, entries)
    if best is None:
        return Placement(toctree, page, local, title, n_lines, 0, "", known=False)
    _, name, entries = best
    sortable = [e for e in entries if e.title.lower() not in _FIXED_TITLES]
    after = next((e for e in sortable if e.title.lower() > title.lower()), None)
    line = after.first if after is not None else entries[-1].last + 1
    return Placement(toctree, page, local, title, line, entries[0].column, name, known=True)
