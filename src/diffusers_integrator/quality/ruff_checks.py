"""ruff check and ruff format as findings, and their fixes as new file contents.

Lint findings come from ruff's JSON output. Format findings come from `ruff format --diff`, one per hunk,
located at the first line the formatter would change. Fixes go through stdin (`--stdin-filename` keeps the
per-file settings) so that the new contents are written by `Checkout`, atomically, like every other write.
"""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..checkout import Checkout
from .models import Finding
from .ruff_bin import RuffBinary


_DIFF_FILE = re.compile(r"^--- (.+)\n\+\+\+ (.+)$", re.M)
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_PARSE_ERROR = re.compile(r"error: Failed to parse (.+?):(\d+):(\d+): (.+)")


def shipped_config() -> Path:
    """diffusers' ruff settings as we ship them, for trees that carry none."""
    return Path(str(resources.files("diffusers_integrator.quality") / "data" / "ruff-diffusers.toml"))


@dataclass
class RuffRun:
    findings: list[Finding] = field(default_factory=list)
    command: str = ""
    output: str = ""
    error: str | None = None  # ruff itself failed (bad config, crash): the check is broken, not failed


class Ruff:
    """One ruff binary + configuration, run from the checkout root."""

    def __init__(self, checkout: Checkout, binary: RuffBinary, config: Path | None):
        self.checkout = checkout
        self.binary = binary
        self.config = config  # None: the checkout's own configuration, found by ruff
        self.cache = checkout.state_dir / "ruff-cache"

    def _args(self, command: str, *, stdin: bool = False) -> list[str]:
        args = [self.binary.path, command]
        if self.config is not None:
            args += ["--config", str(self.config)]
        if not stdin:
            # Explicit file arguments would otherwise bypass the configured excludes; the cache stays in
            # our state folder instead of creating .ruff_cache in the user's tree.
            args += ["--force-exclude", "--cache-dir", str(self.cache)]
        return args

    def _show(self, args: list[str], targets: list[str]) -> str:
        """The command as a person would type it from the root (our cache and config paths abbreviated)."""
        labels = {
            str(self.cache): ".diffusers-integrator/ruff-cache",
            str(shipped_config()): "<shipped diffusers settings>",
        }
        shown = ["ruff", *(labels.get(str(a), str(a)) for a in args[1:])]
        listed = targets if len(targets) <= 6 else [*targets[:5], f"... ({len(targets)} paths)"]
        return " ".join([*shown, *listed])

    def _run(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=self.checkout.root, input=stdin, capture_output=True, text=True, check=False, timeout=600
        )

    def lint(self, targets: list[str]) -> RuffRun:
        args = [*self._args("check"), "--output-format", "json", "--no-fix"]
        run = RuffRun(command=self._show(args, targets))
        done = self._run([*args, "--", *targets])
        run.output = done.stdout + done.stderr
        if done.returncode not in (0, 1):
            run.error = _last_line(done.stderr) or f"exit status {done.returncode}"
            return run
        for item in json.loads(done.stdout or "[]"):
            fix = item.get("fix") or {}
            location = item.get("location") or {}
            run.findings.append(
                Finding(
                    check="ruff-check",
                    path=self._rel(item["filename"]),
                    line=location.get("row"),
                    col=location.get("column"),
                    code=item.get("code") or "syntax-error",
                    message=item.get("message", "").splitlines()[0][:300],
                    fixable=fix.get("applicability") == "safe",
                )
            )
        return run

    def format_check(self, targets: list[str]) -> RuffRun:
        args = [*self._args("format"), "--diff"]
        run = RuffRun(command=self._show(args, targets))
        done = self._run([*args, "--", *targets])
        run.output = done.stdout + done.stderr
        parse_errors = _PARSE_ERROR.findall(done.stderr)
        if done.returncode not in (0, 1) and not parse_errors:
            run.error = _last_line(done.stderr) or f"exit status {done.returncode}"
            return run
        run.findings = [
            Finding(
                check="ruff-format",
                path=self._rel(path),
                line=line,
                col=1,
                code="format",
                message=f"ruff {self.binary.version} would reformat {span}",
                fixable=True,
            )
            for path, line, span in _format_hunks(done.stdout)
        ]
        # Files ruff cannot parse cannot be formatted; ruff-check reports the syntax error itself.
        return run

    def fix_file(self, rel: str, text: str) -> str:
        """The content `ruff check --fix` then `ruff format` would leave (unchanged when ruff fails)."""
        fixed = self._run([*self._args("check", stdin=True), "--fix", "--stdin-filename", rel, "-"], text)
        if fixed.returncode in (0, 1) and fixed.stdout:
            text = fixed.stdout
        formatted = self._run([*self._args("format", stdin=True), "--stdin-filename", rel, "-"], text)
        if formatted.returncode == 0 and formatted.stdout:
            text = formatted.stdout
        return text

    def fix_files(self, files: dict[str, str]) -> dict[str, str]:
        """New contents of the files whose content fixing changes (two processes per file, in parallel)."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = dict(zip(files, pool.map(lambda item: self.fix_file(*item), files.items()), strict=True))
        return {rel: text for rel, text in results.items() if text != files[rel]}

    def fix_commands(self, count: int) -> list[str]:
        return [
            f"ruff check --fix --stdin-filename <file> - ({count} files, results written through Checkout)",
            f"ruff format --stdin-filename <file> - ({count} files)",
        ]

    def _rel(self, filename: str) -> str:
        path = Path(filename)
        if not path.is_absolute():
            path = self.checkout.root / path
        try:
            return self.checkout.rel(path)
        except ValueError:
            return filename


def _format_hunks(diff: str) -> list[tuple[str, int, str]]:
    """(path, first changed line in the original, lines span) per hunk of a `ruff format --diff`."""
    out: list[tuple[str, int, str]] = []
    headers = list(_DIFF_FILE.finditer(diff))
    for index, header in enumerate(headers):
        body_end = headers[index + 1].start() if index + 1 < len(headers) else len(diff)
        path = header.group(1).strip()
        line_no = None
        first_changed = None
        last_changed = None
        for line in diff[header.end() : body_end].splitlines():
            hunk = _HUNK.match(line)
            if hunk:
                if first_changed is not None:
                    out.append((path, first_changed, _span(first_changed, last_changed)))
                line_no, first_changed, last_changed = int(hunk.group(1)), None, None
                continue
            if line_no is None:
                continue
            if line.startswith("-"):
                first_changed = line_no if first_changed is None else first_changed
                last_changed = line_no
                line_no += 1
            elif line.startswith("+"):
                first_changed = line_no if first_changed is None else first_changed
                last_changed = line_no if last_changed is None else last_changed
            elif line.startswith(" ") or line == "":
                line_no += 1
        if first_changed is not None:
            out.append((path, first_changed, _span(first_changed, last_changed)))
    return out


def _span(first: int, last: int | None) -> str:
    return f"line {first}" if last is None or last == first else f"lines {first}-{last}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
