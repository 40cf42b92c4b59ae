"""`check_skills`: clean on what we ship, and each rule catches a fault planted in a copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diffusers_integrator.skills import SkillFinding, check_skills, heading_anchors, section_exists
from diffusers_integrator.skills.examples import code_blocks


def _only(findings: list[SkillFinding], rule: str) -> list[SkillFinding]:
    assert findings, "the planted fault was not found"
    assert {f.rule for f in findings} == {rule}, [f.render() for f in findings]
    return findings


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_skills_are_clean(known_tools: set[str]) -> None:
    findings = check_skills(known_tools)
    assert findings == [], "\n".join(f.render() for f in findings)


def test_every_server_tool_is_taught_and_every_skill_is_shipped(known_tools: set[str], skills_copy: Path) -> None:
    assert {p.name for p in skills_copy.iterdir()} >= {"integrating-models", "parity-testing", "modular-conversion"}
    # taught means: named in backticks somewhere in a skill's prose; the check above proves it for each tool,
    # this proves the check is not vacuous by adding a tool no skill mentions.
    (finding,) = _only(check_skills(known_tools | {"frobnicate_tree"}, skills_copy), "untaught-tool")
    assert "`frobnicate_tree`" in finding.problem


def test_name_must_equal_the_folder(known_tools: set[str], skills_copy: Path) -> None:
    _edit(skills_copy / "parity-testing" / "SKILL.md", "name: parity-testing", "name: parity-tests")
    (finding,) = _only(check_skills(known_tools, skills_copy), "name")
    assert finding.file == "parity-testing/SKILL.md" and finding.line == 1
    assert "parity-tests" in finding.problem and "name: parity-testing" in finding.fix


def test_name_must_be_lowercase_hyphen(known_tools: set[str], skills_copy: Path) -> None:
    folder = skills_copy / "parity-testing"
    folder.rename(skills_copy / "Parity_Testing")
    _edit(skills_copy / "Parity_Testing" / "SKILL.md", "name: parity-testing", "name: Parity_Testing")
    (finding,) = _only(check_skills(known_tools, skills_copy), "name")
    assert "lowercase" in finding.problem


def test_name_must_fit_64_characters(known_tools: set[str], skills_copy: Path) -> None:
    long_name = "parity-" + "x" * 60
    (skills_copy / "parity-testing").rename(skills_copy / long_name)
    _edit(skills_copy / long_name / "SKILL.md", "name: parity-testing", f"name: {long_name}")
    (finding,) = _only(check_skills(known_tools, skills_copy), "name")
    assert "67 characters" in finding.problem


def test_description_must_say_when_to_use_it(known_tools: set[str], skills_copy: Path) -> None:
    _edit(skills_copy / "modular-conversion" / "SKILL.md", "Use when building", "Covers building")
    (finding,) = _only(check_skills(known_tools, skills_copy), "description")
    assert "when to use" in finding.problem and "Use when" in finding.fix


def test_description_must_exist(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "modular-conversion" / "SKILL.md"
    text = path.read_text(encoding="utf-8")
    start = text.index("description:")
    end = text.index("---", start)
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    (finding,) = _only(check_skills(known_tools, skills_copy), "description")
    assert "no `description`" in finding.problem


def test_frontmatter_must_be_valid_yaml(known_tools: set[str], skills_copy: Path) -> None:
    _edit(skills_copy / "integrating-models" / "SKILL.md", "name: integrating-models", "name: [integrating-models")
    (finding,) = _only(check_skills(known_tools, skills_copy), "frontmatter")
    assert "not valid YAML" in finding.problem


def test_frontmatter_must_exist(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "integrating-models" / "SKILL.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.split("---", 2)[2].lstrip(), encoding="utf-8")
    (finding,) = _only(check_skills(known_tools, skills_copy), "frontmatter")
    assert finding.line == 1


def test_a_folder_without_skill_md(known_tools: set[str], skills_copy: Path) -> None:
    (skills_copy / "notes").mkdir()
    (skills_copy / "notes" / "README.md").write_text("# notes\n", encoding="utf-8")
    (finding,) = _only(check_skills(known_tools, skills_copy), "layout")
    assert finding.skill == "notes"


def test_a_link_to_a_missing_file(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "integrating-models" / "SKILL.md"
    _edit(path, "[gotchas.md](gotchas.md)", "[gotchas.md](gotcha.md)")
    (finding,) = _only(check_skills(known_tools, skills_copy), "link")
    line = path.read_text(encoding="utf-8").split("\n")[finding.line - 1]
    assert "gotcha.md" in line and "does not exist" in finding.problem


def test_a_link_that_leaves_the_skill(known_tools: set[str], skills_copy: Path) -> None:
    _edit(
        skills_copy / "integrating-models" / "testing.md",
        "Parity specs are **not** tests",
        "Parity specs ([see](../parity-testing/spec-format.md)) are **not** tests",
    )
    (finding,) = _only(check_skills(known_tools, skills_copy), "link")
    assert finding.file == "integrating-models/testing.md" and "leaves the skill" in finding.problem


def test_a_link_to_a_missing_heading(known_tools: set[str], skills_copy: Path) -> None:
    _edit(skills_copy / "parity-testing" / "SKILL.md", "checkpoints.md#injection", "checkpoints.md#injections")
    (finding,) = _only(check_skills(known_tools, skills_copy), "link")
    assert "#injection" in finding.problem  # the suggestion names the heading that exists


def test_links_inside_code_blocks_are_not_links(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "parity-testing" / "spec-format.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "\n```python\nx = d['[a](missing.md)']\n```\n", encoding="utf-8")
    assert check_skills(known_tools, skills_copy) == []


def test_an_orphan_file(known_tools: set[str], skills_copy: Path) -> None:
    (skills_copy / "parity-testing" / "extra.md").write_text("# Extra\n\nNever linked.\n", encoding="utf-8")
    (finding,) = _only(check_skills(known_tools, skills_copy), "orphan")
    assert finding.file == "parity-testing/extra.md"


def test_a_skill_md_that_is_too_long(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "parity-testing" / "SKILL.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nfiller\n" * 500, encoding="utf-8")
    _only(check_skills(known_tools, skills_copy), "length")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # a typo (near miss of a real tool)
        ("`make_quality` runs what", "`make_qualty` runs what", "Did you mean `make_quality`?"),
        # a stale rename, named as a tool by the word next to it
        ("`inspect_checkpoint` on the original", "the `read_safetensors` tool on the original", "no such tool"),
    ],
)
def test_an_unknown_tool_in_prose(known_tools: set[str], skills_copy: Path, old: str, new: str, expected: str) -> None:
    for path in (skills_copy / "integrating-models").glob("*.md"):
        if old in path.read_text(encoding="utf-8"):
            _edit(path, old, new)
            break
    else:
        raise AssertionError(f"{old!r} not found")
    (finding,) = _only(check_skills(known_tools, skills_copy), "unknown-tool")
    assert expected in finding.problem


def test_an_unknown_tool_in_a_tool_column(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "integrating-models" / "SKILL.md"
    _edit(path, "| 10 | Docs | — |", "| 10 | Docs | `build_docs` |")
    (finding,) = _only(check_skills(known_tools, skills_copy), "unknown-tool")
    assert "`build_docs`" in finding.problem
    assert "build_docs" in path.read_text(encoding="utf-8").split("\n")[finding.line - 1]


def test_diffusers_identifiers_are_not_mistaken_for_tools(known_tools: set[str], skills_copy: Path) -> None:
    # prose full of diffusers names (`register_to_config`, `dispatch_attention_fn`, ...) is clean already;
    # a new one next to "call" is still not a tool, nor is a word of a tool's name (`registration`)
    path = skills_copy / "integrating-models" / "model.md"
    extra = "\nThen call `maybe_free_model_hooks`. The `registration` check is part of `make_quality`.\n"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    assert check_skills(known_tools, skills_copy) == []


def test_a_skill_that_is_removed_leaves_its_tools_untaught(known_tools: set[str], skills_copy: Path) -> None:
    shutil.rmtree(skills_copy / "parity-testing")
    shutil.rmtree(skills_copy / "modular-conversion")
    shutil.rmtree(skills_copy / "integrating-models")
    findings = _only(check_skills(known_tools, skills_copy), "untaught-tool")
    assert len(findings) == len(known_tools)


def test_heading_anchors_follow_github() -> None:
    text = "# Title\n## 1. Encode — stop at `preloop`\n## Title\n```\n# not a heading\n```\n## Fused QKV\n"
    assert heading_anchors(text) == {"title", "1-encode--stop-at-preloop", "title-1", "fused-qkv"}


def test_section_pointers_resolve() -> None:
    assert section_exists("integrating-models/attention.md#the-pattern")
    assert section_exists("integrating-models/conversion.md#fused-qkv")
    assert section_exists("modular-conversion/denoise.md")
    assert not section_exists("integrating-models/attention.md#no-such-heading")
    assert not section_exists("integrating-models/nothing.md")
    assert not section_exists("no-such-skill/SKILL.md")


def test_the_shipped_skills_call_tools_with_real_arguments(tool_arguments: dict[str, set[str]]) -> None:
    findings = check_skills(tool_arguments)
    assert findings == [], "\n".join(f.render() for f in findings)


def test_the_cli_checks_tool_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from diffusers_integrator.cli import main

    assert main(["skills", "check"]) == 0
    assert "0 finding(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("file", "old", "new", "argument"),
    [
        # inline code, a call written out: the symbol-object shape unregister_lazy_import never took
        (
            "integrating-models/registration.md",
            'unregister_lazy_import(names=["FooOldPipeline"], dry_run=true)',
            'unregister_lazy_import(symbols=[{"name": "FooOldPipeline"}], dry_run=true)',
            "symbols",
        ),
        # prose: "`tool` with `argument=value`"
        (
            "integrating-models/quality.md",
            "`make_quality` with `fix=true`",
            "`make_quality` with `autofix=true`",
            "autofix",
        ),
        # a positional name that is no argument
        (
            "integrating-models/registration.md",
            'check_registration(names=["FooTransformer3DModel", "FooPipeline"])',
            "check_registration(symbols)",
            "symbols",
        ),
    ],
)
def test_a_wrong_tool_argument_is_reported(
    tool_arguments: dict[str, set[str]], skills_copy: Path, file: str, old: str, new: str, argument: str
) -> None:
    path = skills_copy / file
    _edit(path, old, new)
    (finding,) = _only(check_skills(tool_arguments, skills_copy), "unknown-argument")
    assert f"`{argument}`" in finding.problem
    assert finding.file == file
    assert new.split("(")[0].strip("`") in path.read_text(encoding="utf-8").split("\n")[finding.line - 1]


def test_a_wrong_tool_argument_in_a_code_block_is_reported(
    tool_arguments: dict[str, set[str]], skills_copy: Path
) -> None:
    path = skills_copy / "parity-testing" / "spec-format.md"
    block = (
        '\n```python\nrun_parity(\n    spec_file=".diffusers-integrator/specs/foo.py",\n    device="cpu",\n)\n```\n'
    )
    path.write_text(path.read_text(encoding="utf-8") + block, encoding="utf-8")
    (finding,) = _only(check_skills(tool_arguments, skills_copy), "unknown-argument")
    assert "`spec_file`" in finding.problem and "`run_parity`" in finding.problem
    assert path.read_text(encoding="utf-8").split("\n")[finding.line - 1].startswith("run_parity(")


def test_a_python_block_that_does_not_parse_is_reported(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "integrating-models" / "model.md"
    _edit(path, "        in_channels: int = 16,\n", "        in_channels: int = 16, ...,\n")
    (finding,) = _only(check_skills(known_tools, skills_copy), "python-syntax")
    assert "in_channels" in path.read_text(encoding="utf-8").split("\n")[finding.line - 1]


def test_other_code_blocks_are_not_parsed_as_python(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "integrating-models" / "model.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n```bash\npython -c 'x = ('\n```\n", encoding="utf-8")
    assert check_skills(known_tools, skills_copy) == []


def test_a_runnable_block_that_cannot_run_is_reported(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "parity-testing" / "spec-format.md"
    # parses (so python-syntax is silent) but does not compile: the runnable rule catches it
    path.write_text(
        path.read_text(encoding="utf-8") + "\n```python runnable\nx = 1\nreturn x\n```\n", encoding="utf-8"
    )
    (finding,) = _only(check_skills(known_tools, skills_copy), "runnable")  # and nothing else
    assert "'return' outside function" in finding.problem
    assert path.read_text(encoding="utf-8").split("\n")[finding.line - 1] == "return x"


def test_a_runnable_block_that_does_not_parse_is_reported_once(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "integrating-models" / "model.md"
    _edit(path, "        patch_size: int = 2,\n", "        patch_size: int = 2, ...,\n")
    (finding,) = _only(check_skills(known_tools, skills_copy), "python-syntax")  # not twice
    assert "patch_size" in path.read_text(encoding="utf-8").split("\n")[finding.line - 1]


def test_the_runnable_marker_on_another_language_is_reported(known_tools: set[str], skills_copy: Path) -> None:
    path = skills_copy / "integrating-models" / "model.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n```bash runnable\nls\n```\n", encoding="utf-8")
    (finding,) = _only(check_skills(known_tools, skills_copy), "runnable")
    assert "`bash` block" in finding.problem
    assert path.read_text(encoding="utf-8").split("\n")[finding.line - 1] == "```bash runnable"


def test_the_fence_info_string_carries_the_runnable_options() -> None:
    text = "```python runnable file=src/a.py\nx = 1\n```\n\n```python\ny = (\n```\n"
    runnable, plain = code_blocks(text)
    assert (runnable.runnable, runnable.file, runnable.line) == (True, "src/a.py", 2)
    assert (plain.runnable, plain.file, plain.text) == (False, None, "y = (")
