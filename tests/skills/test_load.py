"""Loading and serving: manifests with real digests, confined reads, Skills-extension entries, prompts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from diffusers_integrator.errors import IntegratorError
from diffusers_integrator.skills import (
    SKILL_FILE,
    get_skill,
    list_skills,
    load_skills,
    read_skill_file,
    read_skill_uri,
    skill_prompt,
    skills_dir,
    split_frontmatter,
)


SHIPPED = ["integrating-models", "modular-conversion", "parity-testing"]


def test_loads_the_three_skills_with_their_frontmatter() -> None:
    skills = load_skills()
    assert [s.name for s in skills] == SHIPPED
    for skill in skills:
        raw, _ = split_frontmatter((skill.root / SKILL_FILE).read_text(encoding="utf-8"))
        assert skill.frontmatter == yaml.safe_load(raw)
        assert skill.description.startswith("Use when")
        assert skill.files[0].path == SKILL_FILE
        assert len(skill.files) > 3  # progressive disclosure: a map plus supporting files


def test_manifest_digests_sizes_and_uris_match_the_bytes() -> None:
    for skill in load_skills():
        on_disk = sorted(p.relative_to(skill.root).as_posix() for p in skill.root.rglob("*") if p.is_file())
        assert sorted(f.path for f in skill.files) == on_disk
        for entry in skill.files:
            data = (skill.root / entry.path).read_bytes()
            assert entry.sha256 == hashlib.sha256(data).hexdigest()
            assert entry.digest == f"sha256:{entry.sha256}"
            assert entry.size == len(data)
            assert entry.uri == f"skill://{skill.name}/{entry.path}"
            assert entry.mime == "text/markdown"


def test_skills_extension_entry_has_the_sep_2640_shape() -> None:
    skill = get_skill("parity-testing")
    entry = skill.entry()
    assert set(entry) == {"uri", "frontmatter", "resources"}
    assert entry["uri"] == "skill://parity-testing/SKILL.md"
    assert entry["frontmatter"]["name"] == "parity-testing"
    uris = [r["uri"] for r in entry["resources"]]
    assert uris[0] == entry["uri"] and len(uris) == len(set(uris)) == len(skill.files)
    assert all(r["digest"].startswith("sha256:") and len(r["digest"]) == 7 + 64 for r in entry["resources"])


def test_read_a_file_by_name_and_by_uri() -> None:
    content = read_skill_file("integrating-models", "attention.md")
    assert content.text.startswith("# Attention in diffusers style")
    assert content.sha256 == get_skill("integrating-models").file("attention.md").sha256
    assert read_skill_uri("skill://integrating-models/attention.md") == content
    assert read_skill_file("integrating-models").path == SKILL_FILE


@pytest.mark.parametrize("path", ["../parity-testing/SKILL.md", "/etc/passwd", "..", "", "nothing.md"])
def test_reads_stay_inside_the_skill(path: str) -> None:
    with pytest.raises(IntegratorError) as error:
        read_skill_file("integrating-models", path)
    assert error.value.fix  # every refusal names what to do instead


def test_unknown_skill_and_bad_uri_name_the_fix() -> None:
    with pytest.raises(IntegratorError, match="integrating-models"):
        read_skill_file("integrating-model")
    with pytest.raises(IntegratorError, match="skill://"):
        read_skill_uri("file:///etc/passwd")


def test_list_skills_result_names_every_file() -> None:
    result = list_skills()
    assert [s.name for s in result.skills] == SHIPPED
    integrating = result.skills[0]
    assert integrating.uri == "skill://integrating-models/SKILL.md"
    assert {"SKILL.md", "attention.md", "checklist.md"} <= set(integrating.files)


def test_prompt_is_the_body_plus_an_index_of_supporting_files() -> None:
    prompt = skill_prompt("modular-conversion")
    assert not prompt.startswith("---")  # frontmatter is for the client, not the conversation
    assert prompt.startswith("# Converting a pipeline to Modular Diffusers")
    assert "skill://modular-conversion/denoise.md" in prompt and "get_skill" in prompt


def test_skills_dir_finds_the_repo_copy() -> None:
    assert skills_dir() == Path(__file__).resolve().parents[2] / "skills"
