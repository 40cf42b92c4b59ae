"""install / update / remove into a temp project, for each client layout, never touching user-owned skills."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from diffusers_integrator import __version__
from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.skills import (
    MANAGED_MARKER,
    install_dir,
    install_skills,
    load_skills,
    remove_skills,
    update_skills,
)


LAYOUTS = {"claude": ".claude/skills", "agents": ".agents/skills", "cursor": ".cursor/skills"}
SHIPPED = ["integrating-models", "modular-conversion", "parity-testing"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _user_skill(skills_folder: Path, name: str) -> dict[str, bytes]:
    folder = skills_folder / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Use when it is mine.\n---\nMine.\n")
    (folder / "notes.md").write_text("my notes\n")
    return _snapshot(folder)


@pytest.mark.parametrize("client", sorted(LAYOUTS))
def test_install_update_remove_round_trip(client: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()

    change = install_skills(client, project)
    folder = project / LAYOUTS[client]
    assert change.target == str(folder)
    assert [(a.name, a.action) for a in change.actions] == [(n, "installed") for n in SHIPPED]
    for skill in load_skills():
        installed = folder / skill.name
        assert _snapshot(installed).keys() == {f.path for f in skill.files} | {MANAGED_MARKER}
        for entry in skill.files:
            assert (installed / entry.path).read_bytes() == (skill.root / entry.path).read_bytes()
        marker = json.loads((installed / MANAGED_MARKER).read_text())
        assert marker["managed_by"] == "diffusers-integrator" and marker["version"] == __version__
        assert marker["files"] == {f.path: f.digest for f in skill.files}
        assert (installed / "SKILL.md").stat().st_mode & 0o044  # readable like a plain copy, not owner-only

    assert {a.action for a in install_skills(client, project).actions} == {"unchanged"}
    assert {a.action for a in update_skills(client, project).actions} == {"unchanged"}

    removed = remove_skills(client, project)
    assert [(a.name, a.action) for a in removed.actions] == [(n, "removed") for n in SHIPPED]
    assert list(folder.iterdir()) == []
    assert not list(folder.parent.glob("*.new")) and not list(folder.glob(".*"))


def test_update_refreshes_changed_skills_and_drops_retired_ones(tmp_path: Path, skills_copy: Path) -> None:
    project = tmp_path / "project"
    install_skills("claude", project, source=skills_copy)
    folder = project / LAYOUTS["claude"]

    # a newer release: one file changed, one skill retired
    (skills_copy / "parity-testing" / "pitfalls.md").write_text("# Pitfalls\n\nNew text.\n")
    shutil.rmtree(skills_copy / "modular-conversion")

    change = update_skills("claude", project, source=skills_copy)
    assert {(a.name, a.action) for a in change.actions} == {
        ("integrating-models", "unchanged"),
        ("parity-testing", "updated"),
        ("modular-conversion", "removed"),
    }
    assert (folder / "parity-testing" / "pitfalls.md").read_text() == "# Pitfalls\n\nNew text.\n"
    assert not (folder / "modular-conversion").exists()


def test_update_reports_shipped_skills_that_are_not_installed(tmp_path: Path) -> None:
    install_skills("agents", tmp_path, names=["parity-testing"])
    change = update_skills("agents", tmp_path)
    assert {(a.name, a.action) for a in change.actions} == {
        ("parity-testing", "unchanged"),
        ("integrating-models", "not_installed"),
        ("modular-conversion", "not_installed"),
    }
    assert sorted(p.name for p in (tmp_path / LAYOUTS["agents"]).iterdir()) == ["parity-testing"]


def test_a_user_owned_skill_of_the_same_name_is_never_touched(tmp_path: Path) -> None:
    folder = tmp_path / LAYOUTS["claude"]
    mine = _user_skill(folder, "parity-testing")
    other = _user_skill(folder, "my-own-skill")

    with pytest.raises(IntegratorError) as refused:
        install_skills("claude", tmp_path)
    assert "not installed by diffusers-integrator" in refused.value.problem
    assert "parity-testing" in refused.value.fix
    # refused before writing anything: not even the other skills were installed
    assert sorted(p.name for p in folder.iterdir()) == ["my-own-skill", "parity-testing"]

    install_skills("claude", tmp_path, names=["integrating-models", "modular-conversion"])
    updated = {a.name: a.action for a in update_skills("claude", tmp_path).actions}
    assert updated == {
        "integrating-models": "unchanged",
        "modular-conversion": "unchanged",
        "parity-testing": "user_owned",
    }
    removed = remove_skills("claude", tmp_path)
    assert {a.name for a in removed.actions} == {"integrating-models", "modular-conversion"}
    with pytest.raises(IntegratorError, match="not installed by diffusers-integrator"):
        remove_skills("claude", tmp_path, names=["parity-testing"])

    assert _snapshot(folder / "parity-testing") == mine
    assert _snapshot(folder / "my-own-skill") == other


def test_edited_managed_copies_need_force(tmp_path: Path, skills_copy: Path) -> None:
    install_skills("cursor", tmp_path)
    installed = tmp_path / LAYOUTS["cursor"] / "integrating-models"
    (installed / "gotchas.md").write_text("my local edit\n")
    (skills_copy / "integrating-models" / "gotchas.md").write_text("# Gotchas\n\nnewer\n")

    with pytest.raises(IntegratorError, match="edited since it was installed") as refused:
        update_skills("cursor", tmp_path, source=skills_copy)
    assert "--force" in refused.value.fix
    assert (installed / "gotchas.md").read_text() == "my local edit\n"
    with pytest.raises(IntegratorError, match="edited"):
        remove_skills("cursor", tmp_path)
    assert (installed / "gotchas.md").exists()

    update_skills("cursor", tmp_path, source=skills_copy, force=True)
    assert (installed / "gotchas.md").read_text() == "# Gotchas\n\nnewer\n"

    (installed / "extra.md").write_text("added by hand\n")  # an added file is an edit too
    with pytest.raises(IntegratorError, match="extra.md"):
        remove_skills("cursor", tmp_path)
    remove_skills("cursor", tmp_path, force=True)
    assert not installed.exists()


def test_update_and_remove_without_an_install(tmp_path: Path) -> None:
    with pytest.raises(IntegratorError, match="skills install"):
        update_skills("claude", tmp_path)
    assert remove_skills("claude", tmp_path).actions == []
    with pytest.raises(IntegratorError, match="No skill"):
        remove_skills("claude", tmp_path, names=["parity-testing"])


def test_install_into_an_explicit_folder_and_unknown_names(tmp_path: Path) -> None:
    target = tmp_path / "home" / ".claude" / "skills"
    change = install_skills(target, names=["parity-testing"])
    assert change.target == str(target.resolve())
    assert (target / "parity-testing" / "SKILL.md").is_file()
    with pytest.raises(IntegratorError, match="Choose from"):
        install_skills(target, names=["parity"])
    with pytest.raises(IntegratorError, match="client layout"):
        install_dir("claud", tmp_path)
