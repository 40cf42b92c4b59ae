"""Cassettes: every Messages API request and response of a run, recorded, then replayed through the real SDK.

Why the SDK's own hook rather than vcrpy: the SDK (anthropic 2.x) runs on httpx2 and takes an `http_client`,
so recording is a response hook on that one client and replay is a transport handed to it. Nothing is
patched process-wide, which
matters because an Inspect eval runs several samples in one process (vcrpy's patches are global, one cassette
at a time); replay is strictly in order (a conversation is a sequence), so a request that differs is diffed
against the one request expected at that point, not against every unplayed one; and each exchange is
appended as it happens, so Ctrl-C or a crash keeps everything recorded so far.

What a cassette holds (JSON lines: a header, then one exchange per line):
* no credential: only `anthropic-version`, `anthropic-beta` and `content-type` of a request's headers are
  kept (`x-api-key` and `authorization` never are), and every body goes through `redact.Scrubber`;
* no machine path: the checkout, the reference and the home folder become `<checkout>`, `<reference>`,
  `<home>` (and back again on replay), so a cassette replays on any machine.

Matching: the request a run sends now must equal the recorded one, except the content of tool results, which
comes from tools that really ran again (paths, timings and job ids differ from run to run); whether a tool
failed still counts. A changed skill, tool description, schema, model or agent flow fails with a diff.
"""

from __future__ import annotations

import contextvars
import difflib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx2
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import IntegratorError
from ..redact import Scrubber


CASSETTE_KIND = "diffusers-integrator agent cassette"
CASSETTE_FORMAT = 1
REQUEST_HEADERS = ("anthropic-version", "anthropic-beta", "content-type")
RESPONSE_HEADERS = ("content-type", "request-id")
TOOL_OUTPUT = "<tool output: not compared>"
MAX_DIFF_LINES = 80

# Which agent sends the request being made now (set by the runner around each agent's loop).
CURRENT_AGENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_agent", default=None)


class CassetteHeader(BaseModel):
    """The first line of a cassette: what it is, and whether a real model or a script answered."""

    kind: Literal["diffusers-integrator agent cassette"] = CASSETTE_KIND
    format: int = CASSETTE_FORMAT
    scripted: bool = Field(description="True when a script, not a model, wrote the responses.")
    note: str = ""
    model: str
    created_with: str = __version__
    case: str | None = Field(default=None, description="The eval case the run integrates, if any.")
    prompt: str | None = Field(default=None, description="What the human asked (the run's first message).")
    reference: str | None = Field(default=None, description="The reference repo (`package:` = in this package).")
    script: str | None = Field(default=None, description="The reference's inference script.")
    answers: str | None = Field(default=None, description="The answers file beside the cassette, if any.")


class Exchange(BaseModel):
    """One request and its response, as recorded (redacted, placeholders for paths)."""

    seq: int
    agent: str | None = None
    method: str
    path: str
    request_headers: dict[str, str] = Field(default_factory=dict)
    request: Any = None
    status: int
    response_headers: dict[str, str] = Field(default_factory=dict)
    response: Any = None


class Cassette(BaseModel):
    header: CassetteHeader
    exchanges: list[Exchange] = Field(default_factory=list)
    path: Path | None = Field(default=None, exclude=True)

    @classmethod
    def load(cls, path: Path) -> Cassette:
        try:
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            header = CassetteHeader.model_validate(json.loads(lines[0])["header"]) if lines else None
            exchanges = [Exchange.model_validate(json.loads(line)["exchange"]) for line in lines[1:]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise IntegratorError(
                f"{path} is not a cassette: {error}", "Give a file `agent run --record` wrote."
            ) from None
        if header is None:
            raise IntegratorError(f"{path} is empty.", "Give a file `agent run --record` wrote.")
        return cls(header=header, exchanges=exchanges, path=path)


def package_path(value: str) -> Path:
    """A header's path: `package:<path>` inside this package (where it is installed), else a plain path."""
    if value.startswith("package:"):
        return Path(__file__).resolve().parents[1] / value.removeprefix("package:")
    return Path(value).expanduser()


def replay_defaults(path: Path) -> dict[str, Any]:
    """What a replay of the cassette at `path` takes unless told otherwise: its prompt, reference, script,
    model and the answers file beside it (a recorded path with a placeholder cannot be resolved: left out)."""
    header = Cassette.load(path).header
    defaults: dict[str, Any] = {"prompt": header.prompt, "model": header.model, "case": header.case}
    for name in ("reference", "script"):
        value = getattr(header, name)
        if value and "<" not in value:
            defaults[name] = package_path(value)
    if header.answers and (path.parent / header.answers).is_file():
        defaults["answers"] = path.parent / header.answers
    return defaults


# ---------------------------------------------------------------------------------------------- redaction


class Redactor:
    """Secrets out (for good) and machine paths to placeholders (and back), on anything JSON-like."""

    def __init__(self, paths: dict[str, Path | str | None], environ: dict[str, str] | None = None):
        pairs: list[tuple[str, str]] = []
        self._restore: list[tuple[str, str]] = []
        for placeholder, value in paths.items():
            given = str(value).rstrip(os.sep) if value else ""
            if len(given) < 2:  # nothing to hide (or the root folder, which every path starts with)
                continue
            self._restore.append((placeholder, given))
            pairs += [(variant, placeholder) for variant in {given, str(Path(given).resolve())}]
        # Longest first, so the checkout wins over the home folder it sits in.
        self._pairs = sorted(set(pairs), key=lambda pair: -len(pair[0]))
        self._scrubber = Scrubber(environ)

    def hide(self, value: Any) -> Any:
        """What goes into a cassette: scrubbed, with placeholders for the machine's paths."""
        return _walk(self._scrubber.data(value), self._hide_text)

    def show(self, value: Any) -> Any:
        """A recorded value as this machine needs it: placeholders back to real paths."""
        return _walk(value, self._show_text)

    def _hide_text(self, text: str) -> str:
        for real, placeholder in self._pairs:
            text = text.replace(real, placeholder)
        return text

    def _show_text(self, text: str) -> str:
        for placeholder, given in self._restore:
            text = text.replace(placeholder, given)
        return text


def _walk(value: Any, text: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {key: _walk(item, text) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, text) for item in value]
    return value


def _body(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", errors="replace")


def _headers(headers: httpx2.Headers, keep: tuple[str, ...]) -> dict[str, str]:
    return {name: headers[name] for name in keep if name in headers}


def exchange_of(
    seq: int, request: httpx2.Request, status: int, headers: httpx2.Headers, content: bytes, redactor: Redactor
) -> Exchange:
    return Exchange(
        seq=seq,
        agent=CURRENT_AGENT.get(),
        method=request.method,
        path=request.url.raw_path.decode("ascii"),
        request_headers=redactor.hide(_headers(request.headers, REQUEST_HEADERS)),
        request=redactor.hide(_body(request.content)),
        status=status,
        response_headers=_headers(headers, RESPONSE_HEADERS),
        response=redactor.hide(_body(content)),
    )


# ---------------------------------------------------------------------------------------------- writing


class CassetteWriter:
    """Appends exchanges to a cassette file as they happen (so an interrupted run keeps what it recorded)."""

    def __init__(self, path: Path, header: CassetteHeader):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.count = 0
        self._stream = open(path, "w", encoding="utf-8")  # noqa: SIM115  # closed by close()
        self._write({"header": header.model_dump(mode="json")})

    def append(self, exchange: Exchange) -> None:
        self._write({"exchange": exchange.model_dump(mode="json")})
        self.count += 1

    def _write(self, line: dict[str, Any]) -> None:
        self._stream.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()


class Recorder:
    """An httpx2 response hook: appends each exchange to the cassette as it completes.

    A hook rather than a transport, so a live run keeps the SDK's own HTTP client (its proxies, keep-alive and
    timeouts) and only listens to it.
    """

    def __init__(self, writer: CassetteWriter, redactor: Redactor):
        self.writer = writer
        self.redactor = redactor

    async def __call__(self, response: httpx2.Response) -> None:
        content = await response.aread()  # kept on the response: the SDK reads the same bytes afterwards
        request = response.request
        self.writer.append(
            exchange_of(self.writer.count + 1, request, response.status_code, response.headers, content, self.redactor)
        )


# ---------------------------------------------------------------------------------------------- replay


class CassetteMismatch(IntegratorError):
    """A run asked the API for something the cassette does not hold at this point."""


class ReplayTransport(httpx2.AsyncBaseTransport):
    """Answers each request with the next recorded response, after checking the request is the recorded one."""

    def __init__(self, cassette: Cassette, redactor: Redactor):
        self.cassette = cassette
        self.redactor = redactor
        self.position = 0
        self.mismatch: CassetteMismatch | None = None

    @property
    def unplayed(self) -> int:
        return len(self.cassette.exchanges) - self.position

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.mismatch is not None:  # the first difference is the one that matters; nothing plays after it
            raise self.mismatch
        await request.aread()
        live = exchange_of(self.position + 1, request, 0, httpx2.Headers(), b"", self.redactor)
        if self.position >= len(self.cassette.exchanges):
            self.mismatch = CassetteMismatch(
                f"Request #{live.seq} (agent {live.agent}) goes past the end of the cassette "
                f"{self.cassette.path}, which holds {len(self.cassette.exchanges)} requests.\n",
                _REDO,
            )
            raise self.mismatch
        recorded = self.cassette.exchanges[self.position]
        expected, actual = match_key(recorded), match_key(live)
        if expected != actual:
            self.mismatch = CassetteMismatch(
                f"Request #{live.seq} (agent {live.agent}) differs from the cassette {self.cassette.path} "
                f"(- recorded, + this run):\n{render_diff(expected, actual)}\n",
                _REDO,
            )
            raise self.mismatch
        self.position += 1
        content = json.dumps(self.redactor.show(recorded.response), ensure_ascii=False).encode("utf-8")
        return httpx2.Response(recorded.status, headers=recorded.response_headers, content=content, request=request)


_REDO = (
    "If the change is intended (a skill, tool, prompt or model changed), record the run again with "
    "`agent run --record`, or re-script a scripted cassette with `diffusers-integrator agent script`."
)


def match_key(exchange: Exchange) -> dict[str, Any]:
    """What must be equal between a recorded request and a live one (tool outputs are left out)."""
    return {
        "method": exchange.method,
        "path": exchange.path,
        "headers": {k: v for k, v in exchange.request_headers.items() if k != "content-type"},
        "body": _without_tool_output(exchange.request),
    }


def _without_tool_output(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("type") == "tool_result":
            return {
                "type": "tool_result",
                "tool_use_id": value.get("tool_use_id"),
                "is_error": bool(value.get("is_error")),
                "content": TOOL_OUTPUT,
            }
        return {key: _without_tool_output(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_tool_output(item) for item in value]
    return value


def render_lines(value: Any, path: str = "") -> Iterator[str]:
    """JSON as one line per leaf, keyed by its path; a multi-line string as its own lines (diffs read well)."""
    if isinstance(value, dict):
        if not value:
            yield f"{path}: {{}}"
        for key in sorted(value):
            yield from render_lines(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        if not value:
            yield f"{path}: []"
        names = [item.get("name") if isinstance(item, dict) else None for item in value]
        by_name = all(isinstance(name, str) for name in names) and len(set(names)) == len(names)
        for index, item in enumerate(value):
            # Named items (tools) by name: one tool more or less does not shift every line after it.
            yield from render_lines(item, f"{path}[{names[index] if by_name else index}]")
    elif isinstance(value, str) and "\n" in value:
        yield f"{path}: |"
        yield from (f"    {line}" for line in value.splitlines())
    else:
        yield f"{path}: {json.dumps(value, ensure_ascii=False)}"


def render_diff(expected: Any, actual: Any) -> str:
    """Which parts differ, then a unified diff of their lines."""
    differ = _differing(expected, actual)
    heading = f"differs in: {', '.join(differ)}" if differ else "differs"
    diff = [heading] + list(
        difflib.unified_diff(
            list(render_lines(expected)), list(render_lines(actual)), "cassette", "this run", n=2, lineterm=""
        )
    )
    if len(diff) > MAX_DIFF_LINES:
        diff = diff[:MAX_DIFF_LINES] + [f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)"]
    return "\n".join(diff)


def _differing(expected: Any, actual: Any) -> list[str]:
    """The request's parts that differ (`body.system`, `body.tools: scaffold, ...`, `body.messages`)."""
    parts = []
    for section in ("method", "path", "headers"):
        if expected.get(section) != actual.get(section):
            parts.append(section)
    old, new = expected.get("body") or {}, actual.get("body") or {}
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        if key == "tools" and isinstance(old.get(key), list) and isinstance(new.get(key), list):
            before = {t.get("name"): t for t in old[key] if isinstance(t, dict)}
            after = {t.get("name"): t for t in new[key] if isinstance(t, dict)}
            names = [n for n in before.keys() | after.keys() if before.get(n) != after.get(n)]
            parts.append(f"body.tools ({', '.join(sorted(map(str, names)))})")
        else:
            parts.append(f"body.{key}")
    return parts
