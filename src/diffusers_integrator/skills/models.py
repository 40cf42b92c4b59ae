"""The pydantic shapes of skills, their files, check findings and install actions (the tools' results)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field


SKILL_FILE = "SKILL.md"
MANAGED_MARKER = ".diffusers-integrator-managed"
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 1024  # the Agent Skills specification's limit
MAX_SKILL_MD_LINES = 500  # the specification's advice; ours stay near 200
URI_SCHEME = "skill"


def skill_uri(name: str, path: str) -> str:
    return f"{URI_SCHEME}://{name}/{path}"


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
            "resources": [{"uri": f.uri, "digest": f.digest, "size": f.size} for f in self.files],
        }


class GetSkillResult(BaseModel):
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
        "layout",
        "frontmatter",
        "name",
        "description",
        "link",
        "orphan",
        "length",
        "unknown-tool",
        "untaught-tool",
        "unknown-argument",
        "python-syntax",
        "runnable",
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
    action: Literal["installed", "updated", "unchanged", "removed", "not_installed", "user_owned"]
    version: str | None = None


class SkillsChange(BaseModel):
    """Result of install / update / remove: the skills folder and one action per skill."""

    target: str
    actions: list[SkillAction]
