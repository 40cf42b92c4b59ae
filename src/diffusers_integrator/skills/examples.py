"""What the skills show as code: tool calls whose arguments must exist, and Python blocks that must parse.

An agent copies what a skill shows. A tool call written with an argument the tool's input schema lacks
(`unregister_lazy_import(symbols=...)` when the tool takes `names`) makes the agent's first call fail, and a
Python block with a syntax error teaches code that cannot run. Both are checked against what the server
really offers, so a renamed field shows up here instead of in an agent's run.

A Python block whose fence says ``` ```python runnable ``` is complete code that the test suite executes.
Renderers read only the first word of the info string, so the marker shows nowhere. `file=PATH` places the
block at PATH of a diffusers tree (blocks naming the same file are joined, in the order `runnable_files`
gets them): that is how a model, its attention classes and its tests are run together, through upstream's
own tester mixins. A runnable block without `file=` is a script that runs on its own.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..syntax import parse, parse_expression


_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)(.*)$")
_KEYWORD = re.compile(r"(?<![\w.=!<>])([a-z_][a-z0-9_]*)\s*=(?!=)")
_ARGUMENT_SPAN = re.compile(r"`([a-z_][a-z0-9_]*)\s*=[^`]*`")
_WITH = re.compile(r"^`?\s+(?:called\s+)?with\s+")
_PYTHON = {"python", "py", "python3"}
RUNNABLE = "runnable"


@dataclass(frozen=True)
class CodeBlock:
    """A fenced block: its info-string language, its first line of code (1-based), its text, and the words of
    the info string after the language (`runnable`, `file=PATH`)."""

    language: str
    line: int
    text: str
    options: tuple[str, ...] = ()

    @property
    def runnable(self) -> bool:
        """Marked complete: the test suite executes it (`python runnable`)."""
        return RUNNABLE in self.options

    @property
    def file(self) -> str | None:
        """Where the block goes in a diffusers tree (`file=PATH`), or None for a stand-alone script."""
        return next((o.split("=", 1)[1] for o in self.options if o.startswith("file=")), None)


@dataclass(frozen=True)
class RunnableFile:
    """One file of a diffusers tree, assembled from the runnable blocks that name it."""

    path: str
    blocks: tuple[tuple[str, CodeBlock], ...]  # (skill file, block), in order

    @property
    def text(self) -> str:
        return "\n\n\n".join(block.text.strip("\n") for _, block in self.blocks) + "\n"


@dataclass(frozen=True)
class ToolCall:
    """A tool named with arguments: `tool(a=1, b=2)` in code, or "`tool` with `a=1`" in prose."""

    tool: str
    line: int
    arguments: tuple[str, ...]


def code_blocks(text: str) -> list[CodeBlock]:
    """The fenced code blocks of a Markdown text (an unclosed fence runs to the end, as renderers do)."""
    blocks: list[CodeBlock] = []
    lines = text.split("\n")
    marker, language, options, start, body = "", "", (), 0, []
    for number, line in enumerate(lines, start=1):
        match = _FENCE.match(line)
        if not marker:
            if match:
                marker, language, start, body = match.group(1), match.group(2).lower(), number + 1, []
                options = tuple(match.group(3).split())
        elif match and line.strip().startswith(marker) and not match.group(2) and not match.group(3).strip():
            blocks.append(CodeBlock(language, start, "\n".join(body), options))
            marker = ""
        else:
            body.append(line)
    if marker:
        blocks.append(CodeBlock(language, start, "\n".join(body), options))
    return blocks


def runnable_blocks(texts: Mapping[str, str]) -> list[tuple[str, CodeBlock]]:
    """`(name, block)` for every runnable block of `texts` (name -> Markdown), in the order given."""
    return [(name, b) for name, text in texts.items() for b in code_blocks(text) if b.runnable]


def runnable_files(texts: Mapping[str, str]) -> list[RunnableFile]:
    """The files the runnable blocks with `file=` make up: blocks naming one path are joined in the order of
    `texts`, then of the lines (the attention classes before the model that uses them)."""
    grouped: dict[str, list[tuple[str, CodeBlock]]] = {}
    for name, block in runnable_blocks(texts):
        if block.file:
            grouped.setdefault(block.file, []).append((name, block))
    return [RunnableFile(path, tuple(blocks)) for path, blocks in grouped.items()]


def python_syntax_errors(text: str) -> Iterator[tuple[int, str]]:
    """`(line, message)` for every Python block of `text` that does not parse (line in the Markdown file)."""
    for block in code_blocks(text):
        if block.language not in _PYTHON:
            continue
        try:
            parse(block.text)
        except SyntaxError as error:
            line = block.line + (error.lineno or 1) - 1
            yield line, f"{error.msg} (line {error.lineno} of the block)"


def runnable_errors(text: str) -> Iterator[tuple[int, str]]:
    """`(line, message)` for every runnable block of `text` that cannot run as written: one whose language is
    not Python, or one that parses but does not compile (`return` outside a function, `nonlocal` with no
    binding, `await` outside `async`). Parse errors are `python_syntax_errors`' to report."""
    for block in code_blocks(text):
        if not block.runnable:
            continue
        if block.language not in _PYTHON:
            yield block.line - 1, f"the `{RUNNABLE}` marker is on a `{block.language or 'plain'}` block"
            continue
        try:
            parse(block.text)
        except SyntaxError:
            continue
        try:
            compile(block.text, f"<{block.file or 'runnable block'}>", "exec", dont_inherit=True)
        except SyntaxError as error:
            yield block.line + (error.lineno or 1) - 1, f"{error.msg} (line {error.lineno} of the block)"


def tool_calls(text: str, tools: Mapping[str, object]) -> Iterator[ToolCall]:
    """Every place `text` names one of `tools` with arguments, in code (`tool(...)`) or in prose."""
    if not tools:
        return
    names = "|".join(sorted((re.escape(t) for t in tools), key=len, reverse=True))
    call = re.compile(rf"(?<![\w.])({names})\(")
    for match in call.finditer(text):
        inner = _balanced(text, match.end() - 1)
        if inner is None:
            continue
        line = text.count("\n", 0, match.start()) + 1
        yield ToolCall(match.group(1), line, tuple(_argument_names(inner)))
    mention = re.compile(rf"`({names})`")
    for number, line_text in enumerate(text.split("\n"), start=1):
        for match in mention.finditer(line_text):
            rest = line_text[match.end() :]
            if not _WITH.match(rest):
                continue
            # The backticked `name=value` spans of the clause that follows ("with `a=1` and `b=2`"), up to
            # the end of the sentence or the next tool name.
            clause = re.split(r"[.;:](?:\s|$)|`[a-z_]+`(?!\s*=)", rest[_WITH.match(rest).end() :], maxsplit=1)[0]
            arguments = tuple(m.group(1) for m in _ARGUMENT_SPAN.finditer(clause))
            if arguments:
                yield ToolCall(match.group(1), number, arguments)


def unknown_arguments(call: ToolCall, tools: Mapping[str, object]) -> list[str]:
    """The arguments of `call` that its tool's input schema does not have."""
    accepted = set(tools.get(call.tool) or ())  # type: ignore[call-overload]
    return [name for name in call.arguments if name not in accepted]


def _balanced(text: str, open_at: int) -> str | None:
    """The text between the parenthesis at `open_at` and its partner, or None when it never closes."""
    depth, quote = 0, ""
    for index in range(open_at, len(text)):
        char = text[index]
        if quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : index]
        elif char == "`" and depth == 1:
            return None  # the inline code span ended first: not a call written out
    return None


def _argument_names(inner: str) -> list[str]:
    """Keyword names of a call's argument list; a bare name passed positionally counts as one too."""
    try:
        parsed = parse_expression(f"f({inner})")
    except SyntaxError:
        parsed = None
    if isinstance(parsed, ast.Call):
        names = [k.arg for k in parsed.keywords if k.arg]
        names += [a.id for a in parsed.args if isinstance(a, ast.Name)]
        return names
    # Prose shorthand that is not Python (`…`, placeholders): the top-level `name=` pieces.
    return [m.group(1) for m in _KEYWORD.finditer(_top_level(inner))]


def _top_level(inner: str) -> str:
    """`inner` with nested brackets and quoted strings blanked, so only its own keywords remain."""
    out, depth, quote = [], 0, ""
    for char in inner:
        if quote:
            quote = "" if char == quote else quote
            out.append(" ")
        elif char in "\"'":
            quote = char
            out.append(" ")
        elif char in "([{":
            depth += 1
            out.append(" ")
        elif char in ")]}":
            depth -= 1
            out.append(" ")
        else:
            out.append(char if depth == 0 else " ")
    return "".join(out)
