"""Installing the skills into a project for Claude Code, Codex or Cursor, marked so `update` and `remove` only
ever touch copies we made."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from .. import __version__
from ..errors import IntegratorError
from .load import load_skills, skill_files
from .models import MANAGED_MARKER, Skill, SkillAction, SkillsChange


# Project-level folders each client reads skills from (Cursor also reads `.agents/skills` and `.claude/skills`).
CLIENT_LAYOUTS: dict[str, PurePosixPath] = {
    "claude": PurePosixPath(".claude/skills"),
    "agents": PurePosixPath(".agents/skills"),
    "cursor": PurePosixPath(".cursor/skills"),
}
Client = Literal["claude", "agents", "cursor"]


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
    that are not installed are reported as `not_installed` (or `user_owned` when a folder of the user's holds the
    name), not added: install adds. User-owned folders are never written.
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
            folder = destination / skill_name
            # a folder of that name without our marker is the user's: say so rather than "not installed"
            action = "user_owned" if folder.exists() else "not_installed"
            actions.append(SkillAction(name=skill_name, path=str(folder), action=action, version=__version__))
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
    present = {p.relative_to(folder).as_posix(): p for p in skill_files(folder)}
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
