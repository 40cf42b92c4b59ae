"""Markdown facts the skills machinery needs: which lines are code, and what anchors headings get."""

from __future__ import annotations

import re
import unicodedata


_FENCE = re.compile(r"^\s*(```|~~~)")


def blank_code_fences(text: str) -> str:
    """The text with fenced code blocks blanked line for line, so line numbers stay true."""
    out, fenced, marker = [], False, ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if match and (not fenced or match.group(1) == marker):
            fenced, marker = (not fenced), match.group(1)
            out.append("")
        else:
            out.append("" if fenced else line)
    return "\n".join(out)


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub (and most Markdown renderers) give the headings of `text`."""
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    for line in blank_code_fences(text).split("\n"):
        match = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = _slug(match.group(1))
        seen = counts.get(slug, 0)
        counts[slug] = seen + 1
        anchors.add(slug if seen == 0 else f"{slug}-{seen}")
    return anchors


def _slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.strip().lower()
    kept = []
    for char in text:
        if char in " -_" or char.isalnum() or unicodedata.category(char).startswith("M"):
            kept.append(char)
    return "".join(kept).replace(" ", "-")
