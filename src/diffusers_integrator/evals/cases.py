"""An eval case: the tree a session starts from, what the agent did, and the end state that counts as right.

A case is a folder `evals/cases/<id>/` with a `case.yaml` (this module's `EvalCase`) and, where the agent wrote
files with its own editor, their final text under `files/`. Cases never hold upstream's code: a file restored in
a strip-and-restore case is named by its path in the base tree (`content_from_base`) and read at replay time.

A planted-fault case `extends` another and `patch`es its turns (drop, insert or replace a turn, found by tool and
occurrence), so the fault is the only difference and it names the checks it must lower.

Recorded turns are tool calls, one per assistant turn. An argument may refer to what an earlier call returned,
as `{"$ref": "confirm_plan.plan_id"}` (the latest result of that tool, then a key path), because ids a server
issues (plans, question sets, jobs) differ from one run to the next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from ..errors import IntegratorError


CASE_FILE = "case.yaml"
EDIT_TOOL = "edit_file"


class BaseTree(BaseModel):
    """Where the session starts."""

    source: Literal["installed", "clone"] = Field(
        default="installed",
        description="`installed`: the installed diffusers package as a git tree (works offline anywhere); "
        "`clone`: a copy of the upstream clone in $DIFFUSERS_CLONE (its utils/, tests/ and docs/ included).",
    )
    strip: list[str] = Field(
        default_factory=list,
        description="Modules to remove before the session, each with every trace of its public names "
        "(strip-and-restore), as paths relative to the root: `src/diffusers/models/transformers/transformer_flux.py`; "
        "a folder (a pipeline package, a test folder) goes whole.",
    )


class Turn(BaseModel):
    """One recorded assistant turn: a tool call, or the closing message."""

    tool: str | None = Field(default=None, description="The tool called; None for the final message.")
    arguments: dict[str, Any] = Field(default_factory=dict)
    say: str | None = Field(default=None, description="What the assistant said (the final turn says only this).")

    @model_validator(mode="after")
    def _tool_or_message(self) -> Turn:
        if self.tool is None and self.say is None:
            raise ValueError("a turn calls a tool or says something")
        return self


class ParityExpectation(BaseModel):
    passed: list[str] = Field(default_factory=list, description="Spec files that must pass, comparing real outputs.")
    planted_bugs: dict[str, list[str]] = Field(
        default_factory=dict, description="Spec file -> modules a correct localisation may blame (or their parents)."
    )


class EndState(BaseModel):
    """What must hold in the tree (and the trace) when the session ends."""

    files: list[str] = Field(default_factory=list, description="Files that must exist, relative to the root.")
    names: list[str] = Field(default_factory=list, description="Public names that must be registered, cleanly.")
    same_as_base: list[str] = Field(
        default_factory=list,
        description="Files that must end byte for byte as in the unstripped base (strip-and-restore: the inits and "
        "dummies upstream wrote).",
    )
    equivalent_to_base: dict[str, str] = Field(
        default_factory=dict,
        description="Strip-and-restore: inits and dummies that may differ from upstream's text only in where and "
        "how their registrations are laid out (path -> why, e.g. a list upstream keeps in no order): the same "
        "names under the same guards and keys, and every other line as upstream wrote it.",
    )
    tests: list[str] = Field(default_factory=list, description="Test files (or node ids) that must pass on CPU.")
    parity: ParityExpectation = Field(default_factory=ParityExpectation)
    quality: bool = Field(default=True, description="The change must pass every quality check the tree supports.")


class TurnPatch(BaseModel):
    """One change to the turns of the case this one extends."""

    op: Literal["drop", "insert_after", "insert_before", "replace"]
    tool: str = Field(description="The turn's tool.")
    nth: int = Field(default=1, ge=1, description="Which call of that tool (1 = the first).")
    turn: Turn | None = Field(default=None, description="The turn to insert or to replace it with.")


class EvalCase(BaseModel):
    """One recorded integration, replayable through the real server."""

    id: str
    title: str
    kind: Literal["integration", "strip-restore", "planted-fault"] = "integration"
    base: BaseTree = Field(default_factory=BaseTree)
    prompt: str = Field(description="What the human asked the agent to do.")
    turns: list[Turn] = Field(min_length=1)
    expect: EndState = Field(default_factory=EndState)
    lowers: list[str] = Field(
        default_factory=list, description="Planted faults: the scorers this case must fail (and no other)."
    )
    folder: Path | None = Field(default=None, exclude=True)
    parent: Path | None = Field(default=None, exclude=True, description="The folder of the case this one extends.")

    def file_text(self, name: str) -> str:
        """A file the agent wrote, stored with the case (or with the case it extends)."""
        for folder in (self.folder, self.parent):
            if folder is not None and (folder / "files" / name).is_file():
                return (folder / "files" / name).read_text(encoding="utf-8")
        raise IntegratorError(f"Case {self.id} has no stored file {name}.", f"Add it under files/{name}.")


def cases_dir() -> Path:
    """`evals/cases/` of a source checkout of this project (where `make test` and `eval run` find them)."""
    from ..data import data_dir

    return data_dir("evals") / "cases"


def load_case(folder: Path) -> EvalCase:
    path = folder / CASE_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        parent = None
        if "extends" in data:
            parent = folder.parent / data.pop("extends")
            data = _extended(load_case(parent), data)
        case = EvalCase.model_validate({**data, "id": data.get("id", folder.name)})
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise IntegratorError(f"{path} is not a valid eval case: {error}", "Fix the named field.") from None
    case.folder, case.parent = folder, parent
    return case


def _extended(parent: EvalCase, data: dict[str, Any]) -> dict[str, Any]:
    """The parent's case with this one's fields on top, and its turns patched."""
    turns = list(parent.turns)
    for raw in data.pop("patch", []):
        patch = TurnPatch.model_validate(raw)
        positions = [i for i, turn in enumerate(turns) if turn.tool == patch.tool]
        if len(positions) < patch.nth:
            raise IntegratorError(
                f"patch: {parent.id} has {len(positions)} call(s) of {patch.tool}, not {patch.nth}.", "Fix `nth`."
            )
        at = positions[patch.nth - 1]
        if patch.op == "drop":
            del turns[at]
        elif patch.turn is None:
            raise IntegratorError(f"patch: `{patch.op}` needs a `turn`.", "Give the turn to put there.")
        elif patch.op == "replace":
            turns[at] = patch.turn
        else:
            turns.insert(at + (patch.op == "insert_after"), patch.turn)
    expect = {**parent.expect.model_dump(), **data.pop("expect", {})}
    base = parent.model_dump(exclude={"folder", "parent", "id", "title", "kind", "lowers"})
    return {**base, **data, "turns": [turn.model_dump() for turn in turns], "expect": expect}


def load_cases(names: list[str] | None = None, root: Path | None = None) -> list[EvalCase]:
    """The cases under `root` (default: the project's `evals/cases/`), all or those named (an id or a prefix)."""
    root = root or cases_dir()
    folders = sorted(p for p in root.iterdir() if (p / CASE_FILE).is_file())
    if names:
        chosen = [f for f in folders if any(f.name == n or f.name.startswith(n) for n in names)]
        unknown = [n for n in names if not any(f.name == n or f.name.startswith(n) for f in folders)]
        if unknown:
            raise IntegratorError(
                f"No eval case {', '.join(unknown)} in {root}.", f"Choose from: {', '.join(f.name for f in folders)}."
            )
        folders = chosen
    return [load_case(folder) for folder in folders]
