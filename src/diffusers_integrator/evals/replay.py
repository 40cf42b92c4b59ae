"""Replaying a case offline: recorded turns become model outputs, and the agent's own editor becomes a tool.

The replay runs through Inspect's mock model (`mockllm/model` with a callable as `custom_outputs`): each call
returns the next recorded turn as a tool call, with `{"$ref": "tool.key"}` arguments resolved from the tool
results already in the conversation. Everything after the model — Inspect's agent loop, its MCP client, our
server over stdio, the tree — is the real thing, exactly as in a live run with a real model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from inspect_ai.model import ChatMessage, ChatMessageTool, ModelOutput, ModelUsage
from inspect_ai.tool import Tool, ToolError, tool

from ..checkout import Checkout
from ..errors import IntegratorError
from .cases import EDIT_TOOL, EvalCase, Turn


MODEL = "mockllm/model"
# mockllm counts tokens with tiktoken unless usage is set, and tiktoken downloads its encoding: set it.
_USAGE = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)


class Replayer:
    """The recorded assistant of one case, as mockllm's `custom_outputs` callable."""

    def __init__(self, case: EvalCase, base_tree: Path | None = None):
        self.case = case
        self.base_tree = base_tree
        self.position = 0

    def __call__(self, input: list[ChatMessage], tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        running = _running_job(input)
        if running is not None:
            # Long work outlived its wait on this machine: follow it, as any agent would, before going on.
            output = ModelOutput.for_tool_call(MODEL, "job_status", {"job_id": running, "wait_s": 50})
        elif self.position >= len(self.case.turns):
            output = ModelOutput.from_content(MODEL, "The recording ends here.")
        else:
            turn = self.case.turns[self.position]
            self.position += 1
            output = self._output(turn, input)
        output.usage = _USAGE
        return output

    def _output(self, turn: Turn, input: list[ChatMessage]) -> ModelOutput:
        if turn.tool is None:
            return ModelOutput.from_content(MODEL, turn.say or "")
        arguments = resolve(turn.arguments, _results(input))
        if turn.tool == EDIT_TOOL:
            arguments = self._edit_arguments(arguments)
        output = ModelOutput.for_tool_call(MODEL, turn.tool, arguments, tool_call_id=f"turn-{self.position}")
        if turn.say:
            output.message.content = turn.say
        return output

    def _edit_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """`content_file` (stored with the case) and `content_from_base` (the unstripped tree) become `file_text`."""
        arguments = dict(arguments)
        if "content_file" in arguments:
            arguments["file_text"] = self.case.file_text(arguments.pop("content_file"))
        if "content_from_base" in arguments:
            if self.base_tree is None:
                raise IntegratorError("content_from_base needs the unstripped base tree.", "Replay with a base tree.")
            source = arguments.pop("content_from_base")
            arguments["file_text"] = (self.base_tree / source).read_text(encoding="utf-8")
        return arguments


def _running_job(input: list[ChatMessage]) -> str | None:
    """The job id, when the last tool result is a job still running."""
    last = input[-1] if input else None
    if not isinstance(last, ChatMessageTool) or last.error is not None:
        return None
    try:
        result = json.loads(last.text)
    except json.JSONDecodeError:
        return None
    job = result.get("job") if isinstance(result, dict) else None
    if isinstance(job, dict) and job.get("state") == "running":
        return job.get("job_id")
    return None


def _results(input: list[ChatMessage]) -> dict[str, Any]:
    """The latest structured result of each tool, from the tool messages so far."""
    latest: dict[str, Any] = {}
    for message in input:
        if isinstance(message, ChatMessageTool) and message.function and message.error is None:
            try:
                latest[message.function] = json.loads(message.text)
            except json.JSONDecodeError:
                continue
    return latest


def resolve(value: Any, results: dict[str, Any]) -> Any:
    """Replaces every `{"$ref": "tool.key.path"}` in `value` with what that tool returned last."""
    if isinstance(value, dict):
        if set(value) == {"$ref"}:
            tool_name, *path = str(value["$ref"]).split(".")
            found: Any = results.get(tool_name)
            for key in path:
                if isinstance(found, dict) and key in found:
                    found = found[key]
                elif isinstance(found, list) and key.isdigit() and int(key) < len(found):
                    found = found[int(key)]
                else:
                    raise IntegratorError(
                        f"The recording refers to {value['$ref']}, which no earlier result holds.",
                        "Record the call that returns it before the call that uses it.",
                    )
            return found
        return {key: resolve(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, results) for item in value]
    return value


def edit_file_tool(root: Path) -> Tool:
    """The agent's own editor (an MCP client brings one), in the shape of Anthropic's text-editor tool.

    Confined to the checkout: every write goes through `Checkout` (no path outside the tree, atomic writes).
    """

    @tool(name=EDIT_TOOL)
    def edit_file() -> Tool:
        async def execute(
            command: Literal["view", "create", "str_replace"],
            path: str,
            file_text: str | None = None,
            old_str: str | None = None,
            new_str: str | None = None,
        ) -> str:
            """View, create or edit a file of the checkout.

            Args:
                command: `view` a file, `create` it (or replace it whole) with `file_text`, or `str_replace`
                    the one occurrence of `old_str` with `new_str`.
                path: The file, relative to the checkout root.
                file_text: The whole text, for `create`.
                old_str: Text that occurs exactly once in the file, for `str_replace`.
                new_str: Its replacement, for `str_replace`.
            """
            try:
                return _edit(Checkout.find(root), command, path, file_text, old_str, new_str)
            except IntegratorError as error:
                raise ToolError(str(error)) from None

        return execute

    return edit_file()


def _edit(
    checkout: Checkout, command: str, path: str, file_text: str | None, old_str: str | None, new_str: str | None
) -> str:
    target = checkout.resolve(path)
    if command == "view":
        if not target.is_file():
            raise IntegratorError(f"No file {path}.", "Check the path, relative to the checkout root.")
        return target.read_text(encoding="utf-8")
    if command == "create":
        if file_text is None:
            raise IntegratorError("`create` needs `file_text`.", "Pass the file's whole text.")
        change = checkout.write_text(path, file_text)
        return f"{change.action} {change.path}"
    if old_str is None or new_str is None:
        raise IntegratorError("`str_replace` needs `old_str` and `new_str`.", "Pass both.")
    text = target.read_text(encoding="utf-8") if target.is_file() else ""
    count = text.count(old_str)
    if count != 1:
        raise IntegratorError(
            f"`old_str` occurs {count} times in {path}.", "Give text that occurs exactly once (add context lines)."
        )
    change = checkout.write_text(path, text.replace(old_str, new_str))
    return f"{change.action} {change.path}"
