"""The Agent Skills this package ships: load them, serve their files, check them, install them into projects.

A skill is a folder under `skills/` with a `SKILL.md` whose YAML frontmatter names it and says when to use it,
plus supporting Markdown files it links to (progressive disclosure: clients load name + description first,
then SKILL.md, then a supporting file when the agent follows a link). The MCP server serves them three ways
(Skills extension entries with sha256 digests, one prompt per skill, and the `list_skills` / `get_skill`
tools); the CLI installs copies into the folders Claude Code, Codex and Cursor read, marked so that `update`
and `remove` never touch a skill the user owns. Nothing here imports torch or diffusers.
"""

from __future__ import annotations

from .check import check_skills
from .install import CLIENT_LAYOUTS, Client, install_dir, install_skills, remove_skills, update_skills
from .load import (
    get_skill,
    list_skills,
    load_skills,
    read_skill_file,
    read_skill_uri,
    section_exists,
    skill_prompt,
    skills_dir,
    split_frontmatter,
)
from .markdown import heading_anchors
from .models import (
    MANAGED_MARKER,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    SKILL_FILE,
    URI_SCHEME,
    GetSkillRequest,
    GetSkillResult,
    ListSkillsResult,
    Skill,
    SkillAction,
    SkillFile,
    SkillFinding,
    SkillsChange,
    SkillSummary,
    skill_uri,
)


__all__ = [
    "CLIENT_LAYOUTS",
    "MANAGED_MARKER",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_NAME_LENGTH",
    "SKILL_FILE",
    "URI_SCHEME",
    "Client",
    "GetSkillRequest",
    "ListSkillsResult",
    "Skill",
    "SkillAction",
    "SkillFile",
    "GetSkillResult",
    "SkillFinding",
    "SkillSummary",
    "SkillsChange",
    "check_skills",
    "get_skill",
    "heading_anchors",
    "install_dir",
    "install_skills",
    "list_skills",
    "load_skills",
    "read_skill_file",
    "read_skill_uri",
    "remove_skills",
    "section_exists",
    "skill_prompt",
    "skill_uri",
    "skills_dir",
    "split_frontmatter",
    "update_skills",
]
