"""The human of a run: forms the server sends (questions, the plan) answered at the terminal or from a file.

Both are MCP elicitation callbacks of the runner's client session, so the server asks exactly as it asks
Claude Code: `ask_user_question` and `confirm_plan` show a form, and the answer comes back in the tool result.
The terminal shows the form's message (the plan comes rendered by the server) and one prompt per field; an
answers file answers unattended runs by each question's header, and says in the log what it answered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
import mcp_types as types
import yaml
from pydantic import BaseModel, Field, ValidationError

from ..errors import IntegratorError


Say = Callable[[str], None]
NOTE_SUFFIX = "_note"
PLAN_FIELD = "decision"


class PlanAnswer(BaseModel):
    decision: Literal["accept", "amend", "decline"]
    note: str | None = None


class Answers(BaseModel):
    """An answers file: what the human would answer, for runs nobody watches."""

    questions: dict[str, str | list[str]] = Field(
        default_factory=dict, description="By question header (case-insensitive): an option label, or a list."
    )
    notes: dict[str, str] = Field(default_factory=dict, description="By question header: what the human adds.")
    plan: PlanAnswer | None = Field(default=None, description="The verdict on every plan the agent shows.")
    unanswered: Literal["recommended", "cancel"] = Field(
        default="recommended",
        description="A question the file does not answer: take its recommended option, or cancel the form.",
    )

    @classmethod
    def load(cls, path: Path) -> Answers:
        try:
            return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError, ValidationError) as error:
            raise IntegratorError(
                f"{path} is not an answers file: {error}", "See docs/agents.md (answers files)."
            ) from None


def _options(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(value, title) of each option of a choice field, single or multiple."""
    choices = schema.get("oneOf") or (schema.get("items") or {}).get("anyOf") or []
    if not choices and "enum" in schema:
        choices = [{"const": value, "title": str(value)} for value in schema["enum"]]
    return [(str(choice["const"]), str(choice.get("title") or choice["const"])) for choice in choices]


def _pick(wanted: str, options: list[tuple[str, str]]) -> str | None:
    """The option a written answer means: its value, exactly or case-insensitively, or a unique prefix."""
    folded = wanted.strip().casefold()
    for value, _ in options:
        if value.casefold() == folded:
            return value
    starts = [value for value, _ in options if value.casefold().startswith(folded)]
    return starts[0] if len(starts) == 1 else None


class AnswersHuman:
    """Answers every form from an answers file; prints what it was shown and what it answered."""

    def __init__(self, answers: Answers, say: Say):
        self.answers = answers
        self.say = say
        self.forms: list[types.ElicitRequestFormParams] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        if not isinstance(params, types.ElicitRequestFormParams):
            self.say("the server asked to open a URL; an unattended run cannot: declined")
            return types.ElicitResult(action="decline")
        self.forms.append(params)
        _show(params.message, self.say)
        properties = params.requested_schema.get("properties", {})
        if PLAN_FIELD in properties:
            return self._plan()
        content: dict[str, Any] = {}
        by_header = {header.casefold(): value for header, value in self.answers.questions.items()}
        notes = {header.casefold(): note for header, note in self.answers.notes.items()}
        for name, schema in properties.items():
            if name.endswith(NOTE_SUFFIX) and name.removesuffix(NOTE_SUFFIX) in properties:
                header = str(properties[name.removesuffix(NOTE_SUFFIX)].get("title", "")).casefold()
                if notes.get(header):
                    content[name] = notes[header]
                    self.say(
                        f"answers file: {properties[name.removesuffix(NOTE_SUFFIX)].get('title')} note: {notes[header]}"
                    )
                continue
            title = str(schema.get("title", name))
            value = self._value(title, schema, by_header.get(title.casefold()))
            if value is None:
                if name in params.requested_schema.get("required", []):
                    self.say(f"answers file: no answer for `{title}`: the form is cancelled")
                    return types.ElicitResult(action="cancel")
                continue
            content[name] = value
            self.say(f"answers file: {title} = {', '.join(value) if isinstance(value, list) else value}")
        return types.ElicitResult(action="accept", content=content)

    def _value(self, title: str, schema: dict[str, Any], given: str | list[str] | None) -> Any:
        options = _options(schema)
        if given is None:
            return schema.get("default") if self.answers.unanswered == "recommended" else None
        if not options:
            return given
        wanted = given if isinstance(given, list) else [given]
        picked = [_pick(str(item), options) for item in wanted]
        if None in picked:
            known = ", ".join(value for value, _ in options)
            self.say(f"answers file: `{given}` is not an option of `{title}` ({known})")
            return None
        return picked if schema.get("type") == "array" else picked[0]

    def _plan(self) -> types.ElicitResult:
        plan = self.answers.plan
        if plan is None:
            self.say("answers file: no `plan` verdict: the plan form is cancelled")
            return types.ElicitResult(action="cancel")
        self.say(f"answers file: plan {plan.decision}" + (f" ({plan.note})" if plan.note else ""))
        content: dict[str, Any] = {PLAN_FIELD: plan.decision}
        if plan.note:
            content["note"] = plan.note
        return types.ElicitResult(action="accept", content=content)


class TerminalHuman:
    """Shows each form at the terminal and reads the answers (in a worker thread: the session stays live)."""

    def __init__(self, say: Say, read: Callable[[str], str] = input):
        self.say = say
        self.read = read

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        if not isinstance(params, types.ElicitRequestFormParams):
            url = getattr(params, "url", "")
            self.say(f"The agent's server asks you to open: {url}")
            reply = await anyio.to_thread.run_sync(self.read, "Opened and done? [y/N] ")
            return types.ElicitResult(action="accept" if reply.strip().lower().startswith("y") else "decline")
        _show(params.message, self.say)
        self.say("(Enter takes the [default]; /decline or /cancel refuses the whole form.)")
        content: dict[str, Any] = {}
        required = set(params.requested_schema.get("required", []))
        for name, schema in params.requested_schema.get("properties", {}).items():
            while True:
                raw = (await anyio.to_thread.run_sync(self.read, self._prompt(schema, name in required))).strip()
                if raw in ("/decline", "/cancel"):
                    return types.ElicitResult(action=raw[1:])
                try:
                    value = _parse(raw, schema, name in required)
                except ValueError as error:
                    self.say(f"  {error}")
                    continue
                break
            if value is not None:
                content[name] = value
        return types.ElicitResult(action="accept", content=content)

    def _prompt(self, schema: dict[str, Any], required: bool) -> str:
        title = schema.get("title", "answer")
        lines = [f"\n{title}" + (f": {schema['description']}" if schema.get("description") else "")]
        options = _options(schema)
        for number, (_, label) in enumerate(options, 1):
            lines.append(f"  {number}. {label}")
        default = schema.get("default")
        if options:
            several = "numbers separated by commas" if schema.get("type") == "array" else "a number"
            hint = f"{several}" + (f" [{_default_text(default, options)}]" if default is not None else "")
        elif schema.get("type") == "boolean":
            hint = "y/n" + (f" [{'y' if default else 'n'}]" if default is not None else "")
        else:
            hint = "text" + ("" if required else ", Enter to skip")
        self.say("\n".join(lines))
        return f"  your answer ({hint}): "


def _default_text(default: Any, options: list[tuple[str, str]]) -> str:
    values = default if isinstance(default, list) else [default]
    numbers = [str(i) for i, (value, _) in enumerate(options, 1) if value in values]
    return ",".join(numbers)


def _parse(raw: str, schema: dict[str, Any], required: bool) -> Any:
    """One typed answer from what the human typed (raises ValueError with what to type instead)."""
    options = _options(schema)
    if not raw:
        if "default" in schema:
            return schema["default"]
        if required:
            raise ValueError("an answer is needed here")
        return None
    if options:
        picked = []
        for part in raw.split(",") if schema.get("type") == "array" else [raw]:
            part = part.strip()
            if part.isdigit() and 1 <= int(part) <= len(options):
                picked.append(options[int(part) - 1][0])
            elif (value := _pick(part, options)) is not None:
                picked.append(value)
            else:
                raise ValueError(f"`{part}` is not one of the options: type its number (1-{len(options)})")
        return picked if schema.get("type") == "array" else picked[0]
    kind = schema.get("type")
    if kind == "boolean":
        if raw.lower() not in ("y", "yes", "n", "no", "true", "false"):
            raise ValueError("type y or n")
        return raw.lower() in ("y", "yes", "true")
    if kind in ("integer", "number"):
        try:
            return int(raw) if kind == "integer" else float(raw)
        except ValueError:
            raise ValueError(f"type a {kind}") from None
    return raw


def _show(message: str, say: Say) -> None:
    say("\n" + "─" * 30 + " the agent asks you " + "─" * 30)
    say(message.rstrip())
    say("─" * 80)
