"""The Agent Skills this package ships: load them, serve their files, check them, install them into projects.

A skill is a folder under `skills/` with a `SKILL.md` whose YAML frontmatter names it and says when to use it,
plus supporting Markdown files it links to (progressive disclosure: clients load name + description first,
then SKILL.md, then a supporting file when the agent follows a link). The MCP server serves them three ways
(Skills extension entries with sha256 digests, one prompt per skill, and the `list_skills` / `get_skill` tools);
the CLI installs copies into the folders Claude Code, Codex and Cursor read, marked so that `update` and
`remove` never touch a skill the user owns.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from . import __version__
from .data import data_dir
from .errors import IntegratorError


SKILL_FILE = "SKILL.md"
MANAGED_MARKER = ".diffusers-integrator-managed"
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 1024  # the Agent Skills specification's limit
MAX_SKILL_MD_LINES = 500  # the specification's advice; ours stay near 200
URI_SCHEME = "skill"

# Project-level folders each client reads skills from (Cursor also reads `.agents/skills` and `.claude/skills`).
CLIENT_LAYOUTS: dict[str, PurePosixPath] = {
    "claude": PurePosixPath(".claude/skills"),
    "agents": PurePosixPath(".agents/skills"),
    "cursor": PurePosixPath(".cursor/skills"),
}
Client = Literal["claude", "agents", "cursor"]

_NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_WHEN_PATTERN = re.compile(r"\buse\s+(?:this\s+skill\s+|it\s+)?(?:when|whenever)\b", re.IGNORECASE)
_MIME_TYPES = {
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".py": "text/x-python",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".sh": "text/x-shellscript",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


# ---------------------------------------------------------------------------------------------- models


class SkillFile(BaseModel):
    """One file of a skill, addressed as `skill://<skill>/<path>`."""

    path: str = Field(description="path relative to the skill folder, with `/` separators")
    uri: str
    sha256: str = Field(description="hex SHA-256 of the file's bytes")
    size: int
    mime: str

    @property
    def digest(self) -> str:
        """The digest as the MCP Skills extension writes it."""
        return f"sha256:{self.sha256}"


class Skill(BaseModel):
    """A loaded skill: its frontmatter and a manifest of its files (SKILL.md first)."""

    name: str
    description: str
    frontmatter: dict[str, Any] = Field(description="the SKILL.md frontmatter exactly as written")
    files: list[SkillFile]
    root: Path = Field(exclude=True)

    @property
    def uri(self) -> str:
        return skill_uri(self.name, SKILL_FILE)

    def file(self, path: str) -> SkillFile | None:
        return next((f for f in self.files if f.path == path), None)

    def entry(self) -> dict[str, Any]:
        """This skill as a `skills/list` / `skills/get` entry of the MCP Skills extension (SEP-2640)."""
        return {
            "uri": self.uri,
            "frontmatter": self.frontmatter,
            "resources": [{"uri": f.uri, "digest": f.digest} for f in self.files],
        }


class SkillFileContent(BaseModel):
    """The text of one skill file, with what a client needs to verify it."""

    skill: str
    path: str
    uri: str
    mime: str
    sha256: str
    size: int
    text: str


class SkillSummary(BaseModel):
    """What `list_skills` shows of a skill: enough to pick one and name its files."""

    name: str
    description: str
    uri: str
    files: list[str]


class ListSkillsResult(BaseModel):
    """Result of the `list_skills` tool."""

    skills: list[SkillSummary]
    hint: str = "Read a skill with get_skill(name, path); start with integrating-models/SKILL.md."


class GetSkillRequest(BaseModel):
    """Input of the `get_skill` tool."""

    name: str = Field(description="the skill's name, e.g. `integrating-models`")
    path: str = Field(SKILL_FILE, description="a file of the skill, relative to its folder, e.g. `attention.md`")


class SkillFinding(BaseModel):
    """One problem `check_skills` found, with where it is and how to fix it."""

    skill: str
    file: str = Field(description="path relative to the skills folder")
    line: int | None = None
    rule: Literal[
        "layout", "frontmatter", "name", "description", "link", "orphan", "length", "unknown-tool", "untaught-tool"
    ]
    problem: str
    fix: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: [{self.rule}] {self.problem} Fix: {self.fix}"


class SkillAction(BaseModel):
    """What install / update / remove did to one skill."""

    name: str
    path: str
    action: Literal["installed", "updated", "unchanged", "removed", "not_installed"]
    version: str | None = None


class SkillsChange(BaseModel):
    """Result of install / update / remove: the skills folder and one action per skill."""

    target: str
    actions: list[SkillAction]


# ---------------------------------------------------------------------------------------------- loading


def skills_dir() -> Path:
    """The shipped skills: repo-root `skills/` in a checkout, `diffusers_integrator/_data/skills` in a wheel."""
    return data_dir("skills")


def skill_uri(name: str, path: str) -> str:
    return f"{URI_SCHEME}://{name}/{path}"


def load_skills(root: Path | None = None) -> list[Skill]:
    """Every skill under `root` (default: the shipped ones), sorted by name."""
    root = root or skills_dir()
    skills = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if (folder / SKILL_FILE).is_file():
            skills.append(_load_skill(folder))
    return skills


def get_skill(name: str, root: Path | None = None) -> Skill:
    skills = {s.name: s for s in load_skills(root)}
    if name not in skills:
        raise IntegratorError(
            f"There is no skill named `{name}`.", f"Use one of: {', '.join(sorted(skills)) or '(none shipped)'}."
        )
    return skills[name]


def list_skills(root: Path | None = None) -> ListSkillsResult:
    """The `list_skills` tool: every skill's name, description, SKILL.md URI and files."""
    return ListSkillsResult(
        skills=[
            SkillSummary(name=s.name, description=s.description, uri=s.uri, files=[f.path for f in s.files])
            for s in load_skills(root)
        ]
    )


def read_skill_file(name: str, path: str = SKILL_FILE, root: Path | None = None) -> SkillFileContent:
    """One file of a skill, confined to that skill's folder (the `get_skill` tool and `skill://` resources)."""
    skill = get_skill(name, root)
    relative = _confined_relative_path(skill, path)
    entry = skill.file(relative)
    if entry is None:
        raise IntegratorError(
            f"The skill `{name}` has no file `{path}`.", f"Use one of: {', '.join(f.path for f in skill.files)}."
        )
    data = (skill.root / relative).read_bytes()
    return SkillFileContent(
        skill=name,
        path=relative,
        uri=entry.uri,
        mime=entry.mime,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        text=data.decode("utf-8"),
    )


def read_skill_uri(uri: str, root: Path | None = None) -> SkillFileContent:
    """Resolve `skill://<skill>/<path>` (the resource template `skill://{name}/{+path}`)."""
    prefix = f"{URI_SCHEME}://"
    name, _, path = uri.removeprefix(prefix).partition("/")
    if not uri.startswith(prefix) or not name or not path:
        raise IntegratorError(
            f"`{uri}` is not a skill URI.", "Use skill://<skill>/<file>, e.g. skill://integrating-models/SKILL.md."
        )
    return read_skill_file(name, path, root)


def skill_prompt(name: str, root: Path | None = None) -> str:
    """The text of a skill's prompt: its SKILL.md body, then where its supporting files are."""
    skill = get_skill(name, root)
    _, body = split_frontmatter((skill.root / SKILL_FILE).read_text(encoding="utf-8"))
    others = [f for f in skill.files if f.path != SKILL_FILE]
    if not others:
        return body.strip() + "\n"
    index = "\n".join(f"- `{f.path}`: {f.uri}" for f in others)
    return (
        f"{body.strip()}\n\n---\nSupporting files of `{name}` (relative links above point at them). Read one as "
        f"the resource listed here, or with the `get_skill` tool (name `{name}`, path as below):\n{index}\n"
    )


def section_exists(reference: str, root: Path | None = None) -> bool:
    """Whether `<skill>/<file>#<anchor>` (e.g. a scaffold checklist pointer) names a real file and heading."""
    skill_name, _, rest = reference.partition("/")
    path, _, anchor = rest.partition("#")
    try:
        skill = get_skill(skill_name, root)
    except IntegratorError:
        return False
    if not path or skill.file(path) is None:
        return False
    if not anchor:
        return True
    return anchor in heading_anchors((skill.root / path).read_text(encoding="utf-8"))


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """(frontmatter YAML or None, body). Frontmatter is the block between the first two `---` lines."""
    if not text.startswith("---"):
        return None, text
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return None, text
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    return None, text


def _load_skill(folder: Path) -> Skill:
    raw, _ = split_frontmatter((folder / SKILL_FILE).read_text(encoding="utf-8"))
    frontmatter = _parse_frontmatter(raw)
    if not isinstance(frontmatter, dict) or not isinstance(frontmatter.get("name"), str):
        raise IntegratorError(
            f"skills/{folder.name}/SKILL.md has no valid frontmatter with a `name`.",
            "Run `diffusers-integrator skills check` and fix what it reports.",
        )
    name = frontmatter["name"]
    files = []
    for path in _skill_files(folder):
        relative = path.relative_to(folder).as_posix()
        data = path.read_bytes()
        files.append(
            SkillFile(
                path=relative,
                uri=skill_uri(name, relative),
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                mime=_mime(path),
            )
        )
    return Skill(
        name=name,
        description=str(frontmatter.get("description", "")),
        frontmatter=frontmatter,
        files=files,
        root=folder,
    )


def _parse_frontmatter(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return None


def _skill_files(folder: Path) -> list[Path]:
    """Files of a skill, SKILL.md first; hidden files (our marker) and caches are not part of it."""
    found = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.is_file() and not any(p.startswith(".") or p == "__pycache__" for p in parts):
            found.append(path)
    return sorted(
        found, key=lambda p: (p.relative_to(folder).as_posix() != SKILL_FILE, p.relative_to(folder).as_posix())
    )


def _mime(path: Path) -> str:
    return _MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")


def _confined_relative_path(skill: Skill, path: str) -> str:
    """`path` as a clean relative path inside the skill folder, or an error that names the rule."""
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise IntegratorError(
            f"`{path}` is not a path inside the skill `{skill.name}`.",
            "Pass a path relative to the skill folder, e.g. `SKILL.md` or `attention.md`.",
        )
    resolved = (skill.root / pure).resolve()
    if not resolved.is_relative_to(skill.root.resolve()):
        raise IntegratorError(
            f"`{path}` leaves the skill `{skill.name}`.", "Pass a path relative to the skill folder."
        )
    return pure.as_posix()


# ---------------------------------------------------------------------------------------------- checking


def check_skills(known_tools: Iterable[str], root: Path | None = None) -> list[SkillFinding]:
    """Every problem in the skills under `root`; an empty list means clean.

    Rules: a SKILL.md with YAML frontmatter whose `name` equals its folder (lowercase-hyphen, at most 64
    characters) and whose `description` says when to use the skill ("Use when ..."); every relative Markdown
    link resolves to a file (and heading) inside its own skill; every supporting file is reachable from
    SKILL.md; every tool a skill mentions exists in `known_tools`; every known tool is taught by some skill.
    """
    root = root or skills_dir()
    known = set(known_tools)
    findings: list[SkillFinding] = []
    taught: set[str] = set()
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    for folder in folders:
        findings.extend(_check_skill(folder, root, known, taught))
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
    markdown = [p for p in _skill_files(folder) if p.suffix.lower() == ".md"]
    linked: dict[Path, set[Path]] = {}
    for path in markdown:
        text = path.read_text(encoding="utf-8")
        file_rel = f"{name}/{path.relative_to(folder).as_posix()}"
        prose = _blank_code_fences(text)
        link_findings, targets = _check_links(name, folder, path, file_rel, prose)
        findings.extend(link_findings)
        linked[path] = targets
        findings.extend(_check_tool_mentions(name, file_rel, prose, known, taught))
    reachable = _reachable(skill_md, linked)
    for path in _skill_files(folder):
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


def _check_frontmatter(name: str, rel: str, text: str) -> list[SkillFinding]:
    raw, _ = split_frontmatter(text)
    if raw is None:
        return [
            SkillFinding(
                skill=name,
                file=rel,
                line=1,
                rule="frontmatter",
                problem="SKILL.md does not start with YAML frontmatter between `---` lines.",
                fix="Start the file with `---`, `name: <folder>`, `description: Use when ...`, `---`.",
            )
        ]
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        return [
            SkillFinding(
                skill=name,
                file=rel,
                line=1,
                rule="frontmatter",
                problem=f"The frontmatter is not valid YAML ({str(error).splitlines()[0]}).",
                fix="Fix the YAML; quote values that contain `: ` or start with a special character, or use `>-`.",
            )
        ]
    if not isinstance(data, dict):
        return [
            SkillFinding(
                skill=name,
                file=rel,
                line=1,
                rule="frontmatter",
                problem="The frontmatter is not a mapping of keys to values.",
                fix="Write `name: ...` and `description: ...` as top-level keys.",
            )
        ]
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


_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[(?:[^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")


def _blank_code_fences(text: str) -> str:
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


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub (and most Markdown renderers) give the headings of `text`."""
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    for line in _blank_code_fences(text).split("\n"):
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
            close = difflib.get_close_matches(token, sorted(known), n=1, cutoff=_NEAR_MISS)
            if in_tool_cell or next_to_word or close:
                hint = f" Did you mean `{close[0]}`?" if close else ""
                findings.append(
                    SkillFinding(
                        skill=name,
                        file=file_rel,
                        line=number,
                        rule="unknown-tool",
                        problem=f"`{token}` is named as a tool, but the server has no such tool.{hint}",
                        fix="Use a tool the server offers (see list_skills' server or `tools/`), or reword so it "
                        "does not read as a tool.",
                    )
                )
    return findings


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


# ---------------------------------------------------------------------------------------------- installing


def install_dir(target: Client | Path | str, project_dir: Path | str | None = None) -> Path:
    """The skills folder for a client layout under `project_dir` (default: the current directory), or `target`
    itself when it is a path (e.g. `~/.claude/skills`)."""
    if isinstance(target, str) and target in CLIENT_LAYOUTS:
        return Path(project_dir or Path.cwd()).expanduser().resolve() / CLIENT_LAYOUTS[target]
    if isinstance(target, str) and not target.strip():
        raise IntegratorError("No install target given.", "Pick --claude, --agents, --cursor, or a folder.")
    if isinstance(target, str) and os.sep not in target and "/" not in target and not target.startswith((".", "~")):
        raise IntegratorError(
            f"`{target}` is not a client layout.", f"Use one of {', '.join(CLIENT_LAYOUTS)} or a folder path."
        )
    return Path(target).expanduser().resolve()


def install_skills(
    target: Client | Path | str = "claude",
    project_dir: Path | str | None = None,
    *,
    names: Iterable[str] | None = None,
    force: bool = False,
    source: Path | None = None,
) -> SkillsChange:
    """Copy the shipped skills into a client's skills folder, each with a managed marker.

    A skill already installed by us is refreshed; a folder of the same name without our marker belongs to the
    user and makes the whole call refuse before anything is written. A managed copy the user edited is only
    overwritten with `force`.
    """
    destination = install_dir(target, project_dir)
    shipped = _select(load_skills(source), names)
    for skill in shipped:
        _preflight(destination / skill.name, skill.name, force, verb="install")
    actions = [_write_skill(skill, destination) for skill in shipped]
    return SkillsChange(target=str(destination), actions=actions)


def update_skills(
    target: Client | Path | str = "claude",
    project_dir: Path | str | None = None,
    *,
    names: Iterable[str] | None = None,
    force: bool = False,
    source: Path | None = None,
) -> SkillsChange:
    """Refresh the skills we installed in that folder to the shipped version.

    Managed skills this version no longer ships are removed (the marker proves they are ours); shipped skills
    that are not installed are reported as `not_installed`, not added (install adds). User-owned folders are
    never read or written.
    """
    destination = install_dir(target, project_dir)
    managed = _managed_skills(destination)
    if not managed:
        raise IntegratorError(
            f"No skills installed by diffusers-integrator in {destination}.",
            "Install them first: `diffusers-integrator skills install`.",
        )
    shipped = {s.name: s for s in load_skills(source)}
    wanted = set(names) if names is not None else None
    if wanted is not None:
        unknown = wanted - set(managed)
        if unknown:
            raise IntegratorError(
                f"Not installed by diffusers-integrator in {destination}: {', '.join(sorted(unknown))}.",
                "Install them with `diffusers-integrator skills install`, or leave them out.",
            )
    chosen = sorted(n for n in managed if wanted is None or n in wanted)
    for skill_name in chosen:
        _preflight(destination / skill_name, skill_name, force, verb="update")
    actions = []
    for skill_name in chosen:
        if skill_name in shipped:
            actions.append(_write_skill(shipped[skill_name], destination))
        else:
            _delete_managed(destination / skill_name)
            actions.append(SkillAction(name=skill_name, path=str(destination / skill_name), action="removed"))
    if wanted is None:
        for skill_name in sorted(set(shipped) - set(managed)):
            actions.append(
                SkillAction(
                    name=skill_name, path=str(destination / skill_name), action="not_installed", version=__version__
                )
            )
    return SkillsChange(target=str(destination), actions=actions)


def remove_skills(
    target: Client | Path | str = "claude",
    project_dir: Path | str | None = None,
    *,
    names: Iterable[str] | None = None,
    force: bool = False,
) -> SkillsChange:
    """Remove the skills we installed in that folder; without `names`, all of them and nothing else.

    Naming a folder we did not install is refused. A managed copy the user edited is only removed with `force`.
    """
    destination = install_dir(target, project_dir)
    managed = _managed_skills(destination)
    if names is None:
        chosen = sorted(managed)
    else:
        chosen = sorted(set(names))
        for skill_name in chosen:
            folder = destination / skill_name
            if skill_name not in managed:
                if folder.exists():
                    raise IntegratorError(
                        f"{folder} was not installed by diffusers-integrator (no {MANAGED_MARKER}); it is left as is.",
                        "Delete it yourself if you really want it gone.",
                    )
                raise IntegratorError(f"No skill `{skill_name}` in {destination}.", "Check the name and the target.")
    for skill_name in chosen:
        _preflight(destination / skill_name, skill_name, force, verb="remove")
    actions = []
    for skill_name in chosen:
        version = managed[skill_name].get("version")
        _delete_managed(destination / skill_name)
        actions.append(
            SkillAction(name=skill_name, path=str(destination / skill_name), action="removed", version=version)
        )
    return SkillsChange(target=str(destination), actions=actions)


def _select(skills: list[Skill], names: Iterable[str] | None) -> list[Skill]:
    if names is None:
        return skills
    by_name = {s.name: s for s in skills}
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise IntegratorError(
            f"Unknown skill(s): {', '.join(unknown)}.", f"Choose from: {', '.join(sorted(by_name))}."
        )
    return [by_name[n] for n in wanted]


def _read_marker(folder: Path) -> dict[str, Any] | None:
    marker = folder / MANAGED_MARKER
    if not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("managed_by") != "diffusers-integrator":
        return None
    return data


def _managed_skills(destination: Path) -> dict[str, dict[str, Any]]:
    if not destination.is_dir():
        return {}
    found = {}
    for folder in sorted(p for p in destination.iterdir() if p.is_dir()):
        marker = _read_marker(folder)
        if marker is not None:
            found[folder.name] = marker
    return found


def _local_changes(folder: Path, marker: dict[str, Any]) -> list[str]:
    """Files of a managed copy that differ from what we installed: edited, deleted or added by the user."""
    recorded: dict[str, str] = marker.get("files", {})
    present = {p.relative_to(folder).as_posix(): p for p in _skill_files(folder)}
    changed = [
        path
        for path, digest in recorded.items()
        if path not in present or f"sha256:{hashlib.sha256(present[path].read_bytes()).hexdigest()}" != digest
    ]
    changed += [path for path in present if path not in recorded]
    return sorted(changed)


def _preflight(folder: Path, name: str, force: bool, verb: str) -> None:
    """Refuse before writing anything: a user-owned folder always, an edited managed copy unless forced."""
    if not folder.exists():
        return
    marker = _read_marker(folder)
    if marker is None:
        raise IntegratorError(
            f"{folder} exists and was not installed by diffusers-integrator (no {MANAGED_MARKER}); "
            f"it is yours, so nothing was {'installed' if verb == 'install' else verb + 'd'}.",
            f"Rename or delete your `{name}` folder, install into another folder, or leave `{name}` out.",
        )
    changes = _local_changes(folder, marker)
    if changes and not force:
        raise IntegratorError(
            f"The installed `{name}` skill was edited since it was installed ({', '.join(changes)}); "
            f"nothing was {verb}d.",
            f"Re-run with --force to {verb} anyway (your edits are lost), or delete {folder / MANAGED_MARKER} "
            "to make the folder yours.",
        )


def _write_skill(skill: Skill, destination: Path) -> SkillAction:
    """Install or refresh one skill: build it in a temp folder beside the target, then swap it in."""
    folder = destination / skill.name
    marker = {
        "managed_by": "diffusers-integrator",
        "version": __version__,
        "skill": skill.name,
        "files": {f.path: f.digest for f in skill.files},
    }
    previous = _read_marker(folder)
    if previous is not None and previous.get("files") == marker["files"] and not _local_changes(folder, previous):
        if previous.get("version") != __version__:
            _write_bytes(folder / MANAGED_MARKER, (json.dumps(marker, indent=2) + "\n").encode())
        return SkillAction(name=skill.name, path=str(folder), action="unchanged", version=__version__)
    destination.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{skill.name}.", suffix=".new", dir=destination))
    try:
        for entry in skill.files:
            _write_bytes(staging / entry.path, (skill.root / entry.path).read_bytes())
        _write_bytes(staging / MANAGED_MARKER, (json.dumps(marker, indent=2) + "\n").encode())
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it owner-only; a skills folder is not secret
        if folder.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{skill.name}.", suffix=".old", dir=destination))
            retired.rmdir()
            os.replace(folder, retired)
            os.replace(staging, folder)
            shutil.rmtree(retired, ignore_errors=True)
            action = "updated"
        else:
            os.replace(staging, folder)
            action = "installed"
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SkillAction(name=skill.name, path=str(folder), action=action, version=__version__)


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes it owner-only; use the mode a plain copy would get
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _delete_managed(folder: Path) -> None:
    """Remove a managed skill folder; callers have checked the marker (and edits) first."""
    shutil.rmtree(folder)
