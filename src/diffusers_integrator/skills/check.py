"""`check_skills`: the rules every shipped skill must pass (run by `skills check` and `make lint`)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from .examples import python_syntax_errors, runnable_errors, tool_calls, unknown_arguments
from .load import skill_files, skills_dir, split_frontmatter
from .markdown import blank_code_fences, heading_anchors
from .models import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, MAX_SKILL_MD_LINES, SKILL_FILE, SkillFinding


_NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_WHEN_PATTERN = re.compile(r"\buse\s+(?:this\s+skill\s+|it\s+)?(?:when|whenever)\b", re.IGNORECASE)


def check_skills(
    known_tools: Iterable[str] | Mapping[str, Iterable[str]], root: Path | None = None
) -> list[SkillFinding]:
    """Every problem in the skills under `root`; an empty list means clean.

    Rules: a SKILL.md with YAML frontmatter whose `name` equals its folder (lowercase-hyphen, at most 64
    characters) and whose `description` says when to use the skill ("Use when ..."); every relative Markdown
    link resolves to a file (and heading) inside its own skill; every supporting file is reachable from
    SKILL.md; every tool a skill mentions exists in `known_tools`; every known tool is taught by some skill;
    every Python block parses, and every block marked `python runnable` compiles. When `known_tools` maps each
    tool to its input schema's argument names (what `skills check` passes), every argument a skill shows a tool
    called with must be one of them.
    """
    root = root or skills_dir()
    known = set(known_tools)
    arguments = {name: set(args) for name, args in known_tools.items()} if isinstance(known_tools, Mapping) else {}
    findings: list[SkillFinding] = []
    taught: set[str] = set()
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    for folder in folders:
        findings.extend(_check_skill(folder, root, known, taught))
        findings.extend(_check_code(folder, arguments))
    for tool in sorted(known - taught):
        findings.append(
            SkillFinding(
                skill="*",
                file=".",
                rule="untaught-tool",
                problem=f"No skill mentions the server tool `{tool}`, so no agent learns when to call it.",
                fix=f"Name `{tool}` (in backticks) at the step of a skill where it should be called, "
                "and say what its result means.",
            )
        )
    return findings


def _check_skill(folder: Path, root: Path, known: set[str], taught: set[str]) -> list[SkillFinding]:
    folder = folder.resolve()  # links resolve to absolute paths; the files they reach must compare equal
    name = folder.name
    skill_md = folder / SKILL_FILE
    rel = f"{name}/{SKILL_FILE}"
    if not skill_md.is_file():
        return [
            SkillFinding(
                skill=name,
                file=f"{name}/",
                rule="layout",
                problem=f"The folder `{name}` has no {SKILL_FILE}.",
                fix=f"Add {SKILL_FILE} with `name` and `description` frontmatter, or move the folder out of skills/.",
            )
        ]
    findings = _check_frontmatter(name, rel, skill_md.read_text(encoding="utf-8"))
    lines = skill_md.read_text(encoding="utf-8").count("\n") + 1
    if lines > MAX_SKILL_MD_LINES:
        findings.append(
            SkillFinding(
                skill=name,
                file=rel,
                rule="length",
                problem=f"{SKILL_FILE} has {lines} lines; clients load all of it when the skill is used.",
                fix=f"Keep it under {MAX_SKILL_MD_LINES} lines (ours aim at ~200): move details into supporting "
                "files and link them.",
            )
        )
    markdown = [p for p in skill_files(folder) if p.suffix.lower() == ".md"]
    linked: dict[Path, set[Path]] = {}
    for path in markdown:
        text = path.read_text(encoding="utf-8")
        file_rel = f"{name}/{path.relative_to(folder).as_posix()}"
        prose = blank_code_fences(text)
        link_findings, targets = _check_links(name, folder, path, file_rel, prose)
        findings.extend(link_findings)
        linked[path] = targets
        findings.extend(_check_tool_mentions(name, file_rel, prose, known, taught))
    reachable = _reachable(skill_md, linked)
    for path in skill_files(folder):
        if path not in reachable:
            findings.append(
                SkillFinding(
                    skill=name,
                    file=f"{name}/{path.relative_to(folder).as_posix()}",
                    rule="orphan",
                    problem="No link from SKILL.md (directly or through other files) leads here, so agents never read it.",
                    fix="Link it from SKILL.md or from a file SKILL.md links to, or delete it.",
                )
            )
    return findings


def _check_code(folder: Path, arguments: Mapping[str, set[str]]) -> list[SkillFinding]:
    """Python blocks that do not parse, runnable blocks that cannot run, and tool calls with arguments their tool
    does not take."""
    findings: list[SkillFinding] = []
    for path in skill_files(folder):
        if path.suffix.lower() != ".md":
            continue
        text = path.read_text(encoding="utf-8")
        file_rel = f"{folder.name}/{path.relative_to(folder).as_posix()}"
        for line, message in python_syntax_errors(text):
            findings.append(
                SkillFinding(
                    skill=folder.name,
                    file=file_rel,
                    line=line,
                    rule="python-syntax",
                    problem=f"This Python block does not parse: {message}. An agent copies it as it stands.",
                    fix="Make the block valid Python (write placeholders as `...` or comments), or mark it with "
                    "another language if it is not Python.",
                )
            )
        for line, message in runnable_errors(text):
            findings.append(
                SkillFinding(
                    skill=folder.name,
                    file=file_rel,
                    line=line,
                    rule="runnable",
                    problem=f"This block is marked `python runnable`, which the test suite executes, but it cannot "
                    f"run: {message}.",
                    fix="Make it complete, runnable Python, or drop the `runnable` marker from its fence.",
                )
            )
        for call in tool_calls(text, arguments):
            for name in unknown_arguments(call, arguments):
                accepted = ", ".join(f"`{a}`" for a in sorted(arguments[call.tool])) or "none"
                close = difflib.get_close_matches(name, sorted(arguments[call.tool]), n=1)
                hint = f" Did you mean `{close[0]}`?" if close else ""
                findings.append(
                    SkillFinding(
                        skill=folder.name,
                        file=file_rel,
                        line=call.line,
                        rule="unknown-argument",
                        problem=f"`{call.tool}` is shown with the argument `{name}`, which its input schema "
                        f"does not have (it takes {accepted}).{hint}",
                        fix=f"Use the argument names of `tools/{call.tool}.md` and the tool's schema.",
                    )
                )
    return findings


def _check_frontmatter(name: str, rel: str, text: str) -> list[SkillFinding]:
    def unusable(problem: str, fix: str) -> list[SkillFinding]:
        return [SkillFinding(skill=name, file=rel, line=1, rule="frontmatter", problem=problem, fix=fix)]

    raw, _ = split_frontmatter(text)
    if raw is None:
        return unusable(
            "SKILL.md does not start with YAML frontmatter between `---` lines.",
            "Start the file with `---`, `name: <folder>`, `description: Use when ...`, `---`.",
        )
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        return unusable(
            f"The frontmatter is not valid YAML ({str(error).splitlines()[0]}).",
            "Fix the YAML; quote values that contain `: ` or start with a special character, or use `>-`.",
        )
    if not isinstance(data, dict):
        return unusable(
            "The frontmatter is not a mapping of keys to values.",
            "Write `name: ...` and `description: ...` as top-level keys.",
        )
    findings = []
    declared = data.get("name")
    if not isinstance(declared, str) or not declared:
        findings.append(_name_finding(name, rel, "The frontmatter has no `name`.", f"Add `name: {name}`."))
    else:
        if declared != name:
            findings.append(
                _name_finding(
                    name,
                    rel,
                    f"The name `{declared}` differs from its folder `{name}`; clients identify skills by folder.",
                    f"Set `name: {name}` or rename the folder to `{declared}`.",
                )
            )
        if not _NAME_PATTERN.match(declared):
            findings.append(
                _name_finding(
                    name,
                    rel,
                    f"The name `{declared}` is not lowercase letters and digits joined by single hyphens.",
                    "Use lowercase-hyphen, e.g. `parity-testing`.",
                )
            )
        if len(declared) > MAX_NAME_LENGTH:
            findings.append(
                _name_finding(
                    name,
                    rel,
                    f"The name is {len(declared)} characters long.",
                    f"Shorten it to at most {MAX_NAME_LENGTH} characters.",
                )
            )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        findings.append(
            SkillFinding(
                skill=name,
                file=rel,
                line=1,
                rule="description",
                problem="The frontmatter has no `description`; clients pick skills by it.",
                fix="Add `description: Use when ...` naming the situations that call for this skill.",
            )
        )
    else:
        if not _WHEN_PATTERN.search(description):
            findings.append(
                SkillFinding(
                    skill=name,
                    file=rel,
                    line=1,
                    rule="description",
                    problem="The description does not say when to use the skill.",
                    fix='Start it with "Use when ..." and name the situations that call for this skill.',
                )
            )
        if len(description) > MAX_DESCRIPTION_LENGTH:
            findings.append(
                SkillFinding(
                    skill=name,
                    file=rel,
                    line=1,
                    rule="description",
                    problem=f"The description has {len(description)} characters.",
                    fix=f"Shorten it to at most {MAX_DESCRIPTION_LENGTH}; details belong in SKILL.md.",
                )
            )
    return findings


def _name_finding(name: str, rel: str, problem: str, fix: str) -> SkillFinding:
    return SkillFinding(skill=name, file=rel, line=1, rule="name", problem=problem, fix=fix)


_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[(?:[^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")


def _check_links(
    name: str, folder: Path, path: Path, file_rel: str, prose: str
) -> tuple[list[SkillFinding], set[Path]]:
    findings: list[SkillFinding] = []
    targets: set[Path] = set()
    skill_root = folder.resolve()
    for number, line in enumerate(prose.split("\n"), start=1):
        stripped = _INLINE_CODE.sub("", line)
        found = [m.group(1) for m in _LINK.finditer(stripped)]
        reference = _REFERENCE_LINK.match(stripped)
        if reference:
            found.append(reference.group(1))
        for target in found:
            if _EXTERNAL.match(target):
                continue
            link_path, _, anchor = target.partition("#")
            if not link_path:
                destination = path
            elif link_path.startswith("/"):
                findings.append(
                    _link_finding(
                        name, file_rel, number, f"The link `{target}` is absolute.", "Link relative to this file."
                    )
                )
                continue
            else:
                destination = (path.parent / link_path).resolve()
                if not destination.is_relative_to(skill_root):
                    findings.append(
                        _link_finding(
                            name,
                            file_rel,
                            number,
                            f"The link `{target}` leaves the skill; installed skills are copied one folder at a time.",
                            "Refer to another skill by name in backticks (e.g. the `parity-testing` skill) instead "
                            "of linking to its files.",
                        )
                    )
                    continue
                if not destination.is_file():
                    findings.append(
                        _link_finding(
                            name,
                            file_rel,
                            number,
                            f"The link `{target}` points at a file that does not exist.",
                            "Fix the path or create the file.",
                        )
                    )
                    continue
            targets.add(destination)
            if anchor and destination.suffix.lower() == ".md":
                anchors = heading_anchors(destination.read_text(encoding="utf-8"))
                if anchor not in anchors:
                    close = difflib.get_close_matches(anchor, sorted(anchors), n=1)
                    hint = f" Did you mean `#{close[0]}`?" if close else ""
                    findings.append(
                        _link_finding(
                            name,
                            file_rel,
                            number,
                            f"The link `{target}` names a heading that does not exist.{hint}",
                            "Point the anchor at an existing heading (lowercase, punctuation dropped, spaces as "
                            "hyphens) or rename the heading.",
                        )
                    )
    return findings, targets


def _link_finding(name: str, file_rel: str, line: int, problem: str, fix: str) -> SkillFinding:
    return SkillFinding(skill=name, file=file_rel, line=line, rule="link", problem=problem, fix=fix)


_IDENTIFIER_SPAN = re.compile(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)*)(?:\([^`]*\))?`")
_TOOL_WORD_AFTER = re.compile(r"^\s+tools?\b", re.IGNORECASE)
_TOOL_WORD_BEFORE = re.compile(r"\btools?\s+$", re.IGNORECASE)
_NEAR_MISS = 0.8


def _check_tool_mentions(
    name: str, file_rel: str, prose: str, known: set[str], taught: set[str]
) -> list[SkillFinding]:
    """Backticked identifiers that are, or look like, server tools.

    A mention counts as a tool when it is a known tool; when the word "tool" stands right next to it ("the `x`
    tool", "tool `x`"); when it sits in a table column headed "Tool"; or when it is a near miss of a known name
    (a typo or a stale rename). Diffusers identifiers elsewhere in the prose are not tools and are left alone.
    """
    findings = []
    tool_column: int | None = None
    for number, line in enumerate(prose.split("\n"), start=1):
        cells = _table_cells(line)
        if cells is None:
            tool_column = None
        elif tool_column is None and not _is_separator_row(cells):
            header = [i for i, cell in enumerate(cells) if re.search(r"\btools?\b", cell, re.IGNORECASE)]
            tool_column = header[0] if header else -1
        for match in _IDENTIFIER_SPAN.finditer(line):
            token = match.group(1)
            if token in known:
                taught.add(token)
                continue
            in_tool_cell = (
                cells is not None
                and tool_column is not None
                and tool_column >= 0
                and _cell_index(line, match.start()) == tool_column
                and not _is_separator_row(cells)
            )
            next_to_word = bool(
                _TOOL_WORD_AFTER.match(line[match.end() :]) or _TOOL_WORD_BEFORE.search(line[: match.start()])
            )
            close = [
                c
                for c in difflib.get_close_matches(token, sorted(known), n=1, cutoff=_NEAR_MISS)
                if not _is_part_of(token, c)
            ]
            if in_tool_cell or next_to_word or close:
                hint = f" Did you mean `{close[0]}`?" if close else ""
                findings.append(
                    SkillFinding(
                        skill=name,
                        file=file_rel,
                        line=number,
                        rule="unknown-tool",
                        problem=f"`{token}` is named as a tool, but the server has no such tool.{hint}",
                        fix="Name one of the server's tools (one file each in `tools/`), or reword so it "
                        "does not read as a tool.",
                    )
                )
    return findings


def _is_part_of(token: str, tool: str) -> bool:
    """`registration` in `check_registration`: a word of the tool's name is a word, not a misspelt tool."""
    return f"_{token}_" in f"_{tool}_"


def _table_cells(line: str) -> list[str] | None:
    stripped = line.strip()
    if not (stripped.startswith("|") and stripped.count("|") >= 2):
        return None
    return [cell.strip() for cell in stripped.strip("|").split("|")]


def _is_separator_row(cells: list[str]) -> bool:
    return all(re.fullmatch(r":?-{1,}:?", cell) for cell in cells if cell)


def _cell_index(line: str, position: int) -> int:
    """Which table cell a character of `line` is in (0 = the first cell after the leading pipe)."""
    leading = line.index("|")
    return line[:position].count("|") - (1 if leading < position else 0)


def _reachable(start: Path, links: dict[Path, set[Path]]) -> set[Path]:
    seen, stack = {start}, [start]
    while stack:
        for target in links.get(stack.pop(), set()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen
