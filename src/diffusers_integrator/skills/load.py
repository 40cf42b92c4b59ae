"""Loading and serving the shipped skills: manifests with digests, confined reads, prompts."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..data import data_dir
from ..errors import IntegratorError
from .markdown import heading_anchors
from .models import (
    SKILL_FILE,
    URI_SCHEME,
    GetSkillResult,
    ListSkillsResult,
    Skill,
    SkillFile,
    SkillSummary,
    skill_uri,
)


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


def skills_dir() -> Path:
    """The shipped skills: repo-root `skills/` in a checkout, `diffusers_integrator/_data/skills` in a wheel."""
    return data_dir("skills")


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
            f"There is no skill named `{_shown(name)}`.",
            f"Use one of: {', '.join(sorted(skills)) or '(none shipped)'}.",
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


def read_skill_file(name: str, path: str = SKILL_FILE, root: Path | None = None) -> GetSkillResult:
    """One file of a skill, confined to that skill's folder (the `get_skill` tool and `skill://` resources)."""
    skill = get_skill(name, root)
    relative = _confined_relative_path(skill, path)
    entry = skill.file(relative)
    if entry is None:
        raise IntegratorError(
            f"The skill `{name}` has no file `{_shown(path)}`.",
            f"Use one of: {', '.join(f.path for f in skill.files)}.",
        )
    data = (skill.root / relative).read_bytes()
    return GetSkillResult(
        skill=name,
        path=relative,
        uri=entry.uri,
        mime=entry.mime,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        text=data.decode("utf-8"),
    )


def read_skill_uri(uri: str, root: Path | None = None) -> GetSkillResult:
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
    for path in skill_files(folder):
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


def skill_files(folder: Path) -> list[Path]:
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
    if any(ord(char) < 32 or ord(char) == 127 for char in path):  # a NUL byte cannot even be opened
        raise IntegratorError(
            f"`path` {_shown(path)!r} holds a control character.",
            "Pass a plain path relative to the skill folder, e.g. `SKILL.md` or `attention.md`.",
        )
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise IntegratorError(
            f"`{_shown(path)}` is not a path inside the skill `{skill.name}`.",
            "Pass a path relative to the skill folder, e.g. `SKILL.md` or `attention.md`.",
        )
    resolved = (skill.root / pure).resolve()
    if not resolved.is_relative_to(skill.root.resolve()):
        raise IntegratorError(
            f"`{_shown(path)}` leaves the skill `{skill.name}`.", "Pass a path relative to the skill folder."
        )
    return pure.as_posix()


def _shown(text: str, limit: int = 200) -> str:
    """A caller's value as an error echoes it: cut, so a huge one never comes back whole."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
