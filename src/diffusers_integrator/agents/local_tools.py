"""The runner's own tools: a confined editor (Anthropic's text-editor tool) and a confined test runner.

An MCP client brings its own editor, so our server has none; the runner supplies one, held to the rules the
server's write tools follow. Every write goes through `Checkout` (inside the tree, atomic, locked), and only
once the human has approved a plan in this session (read from the server's `plan://current`, so the server
stays the one judge), and only into a file that plan lists or the working folder `.diffusers-integrator/`.
The reference repo can be viewed by its absolute path, never written. The test runner runs pytest on named
test paths of the checkout, after approval too (it runs the agent's code), with no secret in its environment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anthropic.lib.tools import BetaAsyncBuiltinFunctionTool, BetaAsyncFunctionTool, ToolError, beta_async_tool

from ..checkout import STATE_DIR_NAME, Checkout
from ..errors import IntegratorError
from ..interact.plan import PLAN_RESOURCE
from ..redact import Scrubber


EDITOR_NAME = "str_replace_based_edit_tool"
EDITOR_TYPE = "text_editor_20250728"
TESTS_NAME = "run_tests"
MAX_VIEW_CHARS = 60_000
MAX_TEST_OUTPUT_CHARS = 6_000
DEFAULT_TEST_TIMEOUT_S = 600
MAX_TEST_TIMEOUT_S = 1800
_SKIPPED_DIRS = {".git", "__pycache__", ".venv", "node_modules"}


class PlanGate:
    """Whether the agent may write now, as the server sees it for this client session."""

    def __init__(self, client: Any):
        self.client = client

    async def approved_files(self, action: str) -> set[str]:
        """The files of the approved plan; raises when no plan is approved (saying what to do)."""
        # Bypass the client cache: the plan can be approved or revoked between two calls.
        contents = (await self.client.read_resource(PLAN_RESOURCE, cache_mode="bypass")).contents
        view = json.loads(contents[0].text)
        if not view.get("approved"):
            why = view.get("why") or "no plan has been approved in this session"
            raise IntegratorError(
                f"{action}, and {why.split(', and ', 1)[-1]}.",
                view.get("next_step") or "Get the plan accepted with confirm_plan first.",
            )
        return set((view.get("plan") or {}).get("files") or [])


def clean_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment less every value the scrubber would hide (API keys, tokens)."""
    scrubber = Scrubber()
    environment = {name: value for name, value in os.environ.items() if scrubber.text(value) == value}
    return {**environment, **(extra or {})}


# ---------------------------------------------------------------------------------------------- the editor


class ConfinedEditor(BetaAsyncBuiltinFunctionTool):
    """Anthropic's text-editor tool (`view`, `create`, `str_replace`, `insert`) on the checkout only."""

    def __init__(
        self,
        checkout: Checkout,
        gate: PlanGate | None,
        readable: list[Path] | None = None,
        cache_control: dict[str, str] | None = None,
    ):
        self.checkout = checkout
        self.gate = gate  # None: view only
        self.readable = [path.resolve() for path in readable or []]
        self.cache_control = cache_control

    def to_dict(self) -> Any:
        definition: dict[str, Any] = {"type": EDITOR_TYPE, "name": EDITOR_NAME, "max_characters": MAX_VIEW_CHARS}
        if self.cache_control:
            definition["cache_control"] = self.cache_control
        return definition

    async def call(self, input: object) -> str:
        arguments = dict(input) if isinstance(input, dict) else {}
        command, path = arguments.get("command"), str(arguments.get("path") or "")
        try:
            if command == "view":
                return await anyio.to_thread.run_sync(self._view, path, arguments.get("view_range"))
            if command not in ("create", "str_replace", "insert"):
                raise IntegratorError(
                    f"Unknown command {command!r}.", "Use view, create, str_replace or insert (undo is not offered)."
                )
            if self.gate is None:
                raise IntegratorError("This agent's editor only views files.", "Report the change to the lead.")
            rel = self.checkout.rel(self.checkout.resolve(path))
            planned = await self.gate.approved_files(f"`{EDITOR_NAME}` writes to the checkout")
            if rel not in planned and not rel.startswith(STATE_DIR_NAME + "/"):
                raise IntegratorError(
                    f"{rel} is not a file of the approved plan.",
                    "Write only the files the plan lists (or working files under .diffusers-integrator/); to "
                    "add one, amend the plan with confirm_plan and get it approved.",
                )
            return await anyio.to_thread.run_sync(self._write, command, path, arguments)
        except IntegratorError as error:
            raise ToolError(str(error)) from None
        except (OSError, UnicodeDecodeError) as error:
            raise ToolError(f"{path}: {error}") from None

    # ------------------------------------------------------------------ view

    def _locate(self, path: str) -> Path:
        """A path the agent may read: in the checkout, or (absolute) in the reference."""
        raw = Path(path)
        if raw.is_absolute():
            resolved = raw.resolve()
            for root in self.readable:
                if resolved == root or root in resolved.parents:
                    return resolved
        return self.checkout.resolve(path)

    def _view(self, path: str, view_range: Any) -> str:
        target = self._locate(path)
        if target.is_dir():
            return self._listing(target, path)
        if not target.is_file():
            raise IntegratorError(f"No file {path}.", "Check the path (relative to the checkout root).")
        lines = target.read_text(encoding="utf-8").splitlines()
        start, end = 1, len(lines)
        if view_range:
            try:
                start, end = int(view_range[0]), int(view_range[1])
            except (TypeError, ValueError, IndexError):
                raise IntegratorError("`view_range` is [first, last] line numbers.", "Use -1 for the end.") from None
            end = len(lines) if end == -1 else min(end, len(lines))
            if start < 1 or start > max(end, 1):
                raise IntegratorError(f"`view_range` {view_range} is outside 1..{len(lines)}.", "Fix the range.")
        text = "\n".join(f"{number:6}\t{line}" for number, line in enumerate(lines[start - 1 : end], start))
        if len(text) > MAX_VIEW_CHARS:
            text = text[:MAX_VIEW_CHARS] + "\n... (truncated: view a smaller `view_range`)"
        return text

    def _listing(self, folder: Path, shown: str) -> str:
        entries = []
        for child in sorted(folder.iterdir()):
            if child.name.startswith(".") or child.name in _SKIPPED_DIRS:
                continue
            entries.append(child.name + ("/" if child.is_dir() else ""))
            if child.is_dir():
                entries += [
                    f"{child.name}/{grandchild.name}" + ("/" if grandchild.is_dir() else "")
                    for grandchild in sorted(child.iterdir())
                    if not grandchild.name.startswith(".") and grandchild.name not in _SKIPPED_DIRS
                ]
        return f"Files and folders up to 2 levels deep in {shown or '.'} (hidden ones left out):\n" + "\n".join(
            entries
        )

    # ------------------------------------------------------------------ write

    def _write(self, command: str, path: str, arguments: dict[str, Any]) -> str:
        checkout = self.checkout
        if command == "create":
            text = arguments.get("file_text")
            if text is None:
                raise IntegratorError("`create` needs `file_text`.", "Pass the file's whole text.")
            change = checkout.write_text(path, str(text))
            return f"{change.action} {change.path}"
        with checkout.writing():  # read-compute-write under the writer lock, as the server's tools do
            target = checkout.resolve(path)
            if not target.is_file():
                raise IntegratorError(f"No file {path}.", "Create it first with `create`.")
            text = target.read_text(encoding="utf-8")
            if command == "str_replace":
                old, new = arguments.get("old_str"), arguments.get("new_str")
                if old is None:
                    raise IntegratorError("`str_replace` needs `old_str`.", "Pass the text to replace.")
                count = text.count(str(old))
                if count != 1:
                    raise IntegratorError(
                        f"`old_str` occurs {count} times in {path}.",
                        "Give text that occurs exactly once (add surrounding lines).",
                    )
                updated = text.replace(str(old), str(new or ""))
            else:
                line, inserted = arguments.get("insert_line"), arguments.get("insert_text", arguments.get("new_str"))
                lines = text.splitlines(keepends=True)
                if not isinstance(line, int) or not 0 <= line <= len(lines) or inserted is None:
                    raise IntegratorError(
                        f"`insert` needs `insert_line` (0..{len(lines)}) and `insert_text`.", "Pass both."
                    )
                block = str(inserted) if str(inserted).endswith("\n") else f"{inserted}\n"
                if line and not lines[line - 1].endswith("\n"):
                    lines[line - 1] += "\n"
                updated = "".join([*lines[:line], block, *lines[line:]])
            change = checkout.write_text(path, updated)
        return f"{change.action} {change.path}"


# ---------------------------------------------------------------------------------------------- tests


def make_test_runner(
    checkout: Checkout, gate: PlanGate, cache_control: dict[str, str] | None = None
) -> BetaAsyncFunctionTool:
    """`run_tests`: pytest on named test files or folders of the checkout, on CPU."""

    async def run_tests(paths: list[str], keyword: str | None = None, timeout_s: int = DEFAULT_TEST_TIMEOUT_S) -> str:
        """Run pytest on test files or folders of the checkout (on CPU, offline) and return its summary.

        Use it for the integration's own tests (tests/models/..., tests/pipelines/<model>/, ...), not the whole
        suite. Allowed once the plan is approved, since it runs the code you wrote.

        Args:
            paths: Test files or folders, relative to the checkout root (node ids `file.py::test` work too).
            keyword: A pytest `-k` expression to select tests, if any.
            timeout_s: Seconds before the run is stopped (default 600, at most 1800).
        """
        try:
            await gate.approved_files(f"`{TESTS_NAME}` runs the checkout's code")
            if not paths:
                raise IntegratorError("No test path given.", "Name test files or folders of the checkout.")
            targets = []
            for path in paths:
                file_part, _, node = path.partition("::")
                target = checkout.resolve(file_part)
                if not target.exists():
                    raise IntegratorError(f"No test path {file_part}.", "Check it, relative to the checkout root.")
                targets.append(str(target) + (f"::{node}" if node else ""))
        except IntegratorError as error:
            raise ToolError(str(error)) from None
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no", *targets]
        if keyword:
            command += ["-k", keyword]
        environment = clean_environment(
            {"PYTHONPATH": str(checkout.root / "src"), "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
        )
        limit = max(1, min(int(timeout_s), MAX_TEST_TIMEOUT_S))
        with anyio.move_on_after(limit) as scope:
            done = await anyio.run_process(command, cwd=checkout.root, env=environment, check=False)
        if scope.cancelled_caught:
            raise ToolError(f"The tests ran past {limit}s and were stopped. Run fewer, or raise timeout_s.")
        output = Scrubber().text((done.stdout + done.stderr).decode("utf-8", errors="replace"))
        tail = output[-MAX_TEST_OUTPUT_CHARS:]
        verdict = "passed" if done.returncode == 0 else f"FAILED (pytest exit {done.returncode})"
        return f"{verdict}: {' '.join(paths)}\n{tail}"

    return beta_async_tool(run_tests, name=TESTS_NAME, cache_control=cache_control)
