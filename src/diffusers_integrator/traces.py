"""Session traces: every tool call of a session, one JSON line each, under the checkout's state folder.

`.diffusers-integrator/sessions/<session-id>.jsonl` holds a header line (product and diffusers versions, the
base commit, the protocol version), then one line per call: seq, time, tool, arguments, structured result or
error, is_error, duration_ms, and the answer or approval involved. A trace is what an eval case replays, and
what a reviewer reads to see that the human was asked before anything was written.

Secrets never reach the file: values of environment variables whose names look secret, strings shaped like
API keys or tokens, and values under secret-looking keys are replaced before a line is written. Recording is
best effort: a trace that cannot be written is logged on stderr and never fails the tool call.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from . import __version__
from .checkout import STATE_DIR_NAME
from .errors import IntegratorError


if TYPE_CHECKING:
    from .checkout import Checkout
    from .session import IntegratorSession

logger = logging.getLogger(__name__)

TRACE_FORMAT = 1
SESSIONS_DIR = "sessions"

# ---------------------------------------------------------------------------------------------- secrets

# Environment variable names whose values are secrets (matched anywhere in the name, case-insensitively).
_SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|PRIVATE", re.I)
# Shorter values are too likely to be ordinary words or numbers that also appear in real data.
_MIN_SECRET_LEN = 8
# Strings shaped like well-known credentials, wherever they appear.
_SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),  # OpenAI / Anthropic (sk-ant-...)
    re.compile(r"\bhf_[A-Za-z0-9]{16,}"),  # Hugging Face
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),  # GitLab
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),  # Google API key
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{16,}=*"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
]
# Keys whose values are secrets whatever they look like (`api_key`, `hf_token`, `password`, ...).
_SECRET_KEY = re.compile(
    r"(?i)^(?:.*[_\-])?(?:api[_\-]?key|token|secret|password|passwd|passphrase|credentials?|access[_\-]?key|"
    r"private[_\-]?key|client[_\-]?secret)$"
)
REDACTED = "[redacted]"


class Scrubber:
    """Replaces secrets in JSON-like data. Built from the environment at the time of use."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        environ = os.environ if environ is None else environ
        pairs = [
            (value, name)
            for name, value in environ.items()
            if _SECRET_ENV_NAME.search(name) and len(value.strip()) >= _MIN_SECRET_LEN
        ]
        # Longest first, so a secret that contains another is replaced whole.
        self._env_secrets = sorted(pairs, key=lambda pair: -len(pair[0]))

    def text(self, value: str) -> str:
        for secret, name in self._env_secrets:
            if secret in value:
                value = value.replace(secret, f"[redacted:${name}]")
        for pattern in _SECRET_PATTERNS:
            value = pattern.sub(REDACTED, value)
        return value

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            cleaned = {}
            for key, item in value.items():
                key = self.text(str(key))
                secret_valued = _SECRET_KEY.match(key) and isinstance(item, str) and item
                cleaned[key] = REDACTED if secret_valued else self.data(item)
            return cleaned
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


# ---------------------------------------------------------------------------------------------- models


class TraceHeader(BaseModel):
    """The first line of a trace."""

    kind: str = "header"
    format: int = TRACE_FORMAT
    session_id: str
    started: str = Field(description="When the server session began.")
    product: str = "diffusers-integrator"
    product_version: str = __version__
    diffusers_version: str | None = Field(description="The tree's own diffusers version.")
    base_commit: str | None = Field(description="The commit the session's changes are measured against.")
    head_commit: str | None = None
    branch: str | None = None
    protocol_version: str | None = Field(description="The MCP protocol version of the first call, if known.")
    read_only: bool
    require_approval: bool


class TraceCall(BaseModel):
    """One tool call."""

    kind: str = "call"
    seq: int
    time: str
    tool: str
    arguments: dict[str, Any]
    result: Any = None
    error: str | None = None
    is_error: bool
    duration_ms: float
    interaction: dict[str, Any] | None = Field(
        default=None, description="The answer or approval the call involved (or, for a write, the plan in force)."
    )


class _CallRecord:
    """What `TraceRecorder.call` fills in while the call runs."""

    def __init__(self) -> None:
        self.result: Any = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_session_id(moment: dt.datetime | None = None) -> str:
    """Sortable by time, unique across processes: `20261101T120304Z-3f9a1c`."""
    return f"{(moment or _now()).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


# ---------------------------------------------------------------------------------------------- recording


class TraceRecorder:
    """Appends a session's calls to its trace file (created with its header on the first call)."""

    def __init__(self, session: IntegratorSession, session_id: str | None = None):
        self._session = session
        self.started = _now()
        self.session_id = session_id or new_session_id(self.started)
        self._lock = threading.Lock()
        self._seq = 0
        self._path: Path | None = None
        self._disabled = False

    @property
    def path(self) -> Path | None:
        """The trace file, once the first call has been recorded."""
        return self._path

    @contextlib.contextmanager
    def call(
        self, tool: str, access: str, arguments: Mapping[str, Any], protocol_version: str | None = None
    ) -> Iterator[_CallRecord]:
        """Records the call made inside the `with` block, whether it returns or raises."""
        record = _CallRecord()
        started = _now()
        clock = time.perf_counter()
        try:
            yield record
        except BaseException as error:
            self._write(tool, access, arguments, started, clock, None, _error_text(error), protocol_version)
            raise
        self._write(tool, access, arguments, started, clock, record.result, None, protocol_version)

    def _write(
        self,
        tool: str,
        access: str,
        arguments: Mapping[str, Any],
        started: dt.datetime,
        clock: float,
        result: Any,
        error: str | None,
        protocol_version: str | None,
    ) -> None:
        duration_ms = round((time.perf_counter() - clock) * 1000, 3)
        try:
            interaction = self._interaction(access, result)
            scrub = Scrubber()
            with self._lock:
                path = self._open(protocol_version)
                if path is None:
                    return
                self._seq += 1
                line = TraceCall(
                    seq=self._seq,
                    time=_iso(started),
                    tool=tool,
                    arguments=scrub.data(to_jsonable_python(dict(arguments), fallback=repr)),
                    result=scrub.data(_jsonable(result)) if error is None else None,
                    error=scrub.text(error) if error is not None else None,
                    is_error=error is not None,
                    duration_ms=duration_ms,
                    interaction=scrub.data(interaction) if interaction is not None else None,
                )
                _append(path, line.model_dump_json())
        except Exception:  # a trace must never fail the call it records
            logger.warning("could not record the %s call in the session trace", tool, exc_info=True)

    def _interaction(self, access: str, result: Any) -> dict[str, Any] | None:
        describe = getattr(result, "trace_interaction", None)
        if callable(describe):
            return describe()
        if access == "write":
            approved = self._session.approvals.approved
            return {"kind": "write", "approved_plan": approved.id if approved else None}
        return None

    def _open(self, protocol_version: str | None) -> Path | None:
        """The trace path, writing the header first; None when the session has no checkout to write into."""
        if self._path is not None or self._disabled:
            return self._path
        try:
            checkout = self._session.checkout()
        except IntegratorError as error:
            self._disabled = True
            logger.warning("session trace disabled: %s", error)
            return None
        folder = checkout.state_dir / SESSIONS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.session_id}.jsonl"
        header = self._header(checkout, protocol_version)
        _append(path, Scrubber().text(header.model_dump_json()))
        self._path = path
        return path

    def _header(self, checkout: Checkout, protocol_version: str | None) -> TraceHeader:
        options = self._session.options
        try:
            facts = checkout.git_facts()
        except Exception:  # a broken git must not cost the trace
            logger.debug("git facts unavailable for the trace header", exc_info=True)
            facts = None
        return TraceHeader(
            session_id=self.session_id,
            started=_iso(self.started),
            diffusers_version=checkout.diffusers_version(),
            base_commit=facts.merge_base if facts else None,
            head_commit=facts.head if facts else None,
            branch=facts.branch if facts else None,
            protocol_version=protocol_version,
            read_only=options.read_only,
            require_approval=options.require_approval,
        )


def _jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True)
    return to_jsonable_python(result, fallback=repr)


def _error_text(error: BaseException) -> str:
    from mcp.server.mcpserver.exceptions import ToolError  # the edge's error type; the SDK is already loaded

    if isinstance(error, ToolError | IntegratorError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"


def _append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")
        stream.flush()


# ---------------------------------------------------------------------------------------------- reading


class SessionSummary(BaseModel):
    """One trace, as `sessions list` shows it."""

    session_id: str
    path: str
    started: str | None
    product_version: str | None
    diffusers_version: str | None
    base_commit: str | None
    protocol_version: str | None
    calls: int
    errors: int
    approved_plan: str | None = Field(description="The last plan approved in the session, if any.")


class SessionList(BaseModel):
    checkout: str
    sessions: list[SessionSummary]


class SessionTrace(BaseModel):
    """One trace, as `sessions show` shows it."""

    session_id: str
    path: str
    header: dict[str, Any]
    calls: list[dict[str, Any]]


def sessions_dir(checkout: Checkout) -> Path:
    return checkout.root / STATE_DIR_NAME / SESSIONS_DIR


def _trace_paths(checkout: Checkout) -> list[Path]:
    """The checkout's traces, oldest first (by the header's start time; ids only order to the second)."""
    folder = sessions_dir(checkout)
    paths = list(folder.glob("*.jsonl")) if folder.is_dir() else []

    def started(path: Path) -> tuple[str, str]:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            with open(path, encoding="utf-8") as stream:
                return (json.loads(stream.readline()).get("started") or "", path.name)
        return ("", path.name)

    return sorted(paths, key=started)


def read_trace(path: Path) -> SessionTrace:
    header: dict[str, Any] = {}
    calls: list[dict[str, Any]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            # A line cut short by a crash: keep reading the rest.
            logger.warning("%s:%d is not JSON; skipped", path, number)
            continue
        if line.get("kind") == "header":
            header = line
        elif line.get("kind") == "call":
            calls.append(line)
    return SessionTrace(session_id=path.stem, path=str(path), header=header, calls=calls)


def list_sessions(checkout: Checkout) -> SessionList:
    """Every trace in the checkout, oldest first."""
    summaries = []
    for path in _trace_paths(checkout):
        trace = read_trace(path)
        approved = None
        for call in trace.calls:
            interaction = call.get("interaction") or {}
            if interaction.get("kind") == "approval" and interaction.get("plan_status") == "approved":
                approved = interaction.get("plan_id")
        summaries.append(
            SessionSummary(
                session_id=trace.session_id,
                path=path.relative_to(checkout.root).as_posix(),
                started=trace.header.get("started"),
                product_version=trace.header.get("product_version"),
                diffusers_version=trace.header.get("diffusers_version"),
                base_commit=trace.header.get("base_commit"),
                protocol_version=trace.header.get("protocol_version"),
                calls=len(trace.calls),
                errors=sum(1 for call in trace.calls if call.get("is_error")),
                approved_plan=approved,
            )
        )
    return SessionList(checkout=str(checkout.root), sessions=summaries)


def find_session(checkout: Checkout, session: str | None) -> Path:
    """The trace of `session` (an id or a unique prefix of one; default: the latest)."""
    folder = sessions_dir(checkout)
    paths = _trace_paths(checkout)
    if not paths:
        raise IntegratorError(
            f"No session traces in {folder}.", "Traces appear once an MCP client has called a tool on this checkout."
        )
    if session in (None, "", "latest"):
        return paths[-1]
    matches = [path for path in paths if path.stem.startswith(session)]
    if len(matches) != 1:
        found = "no session" if not matches else f"{len(matches)} sessions"
        raise IntegratorError(
            f"{found} match {session!r} in {folder}.", "Run `diffusers-integrator sessions list` and pass a full id."
        )
    return matches[0]


def render_sessions(listing: SessionList) -> str:
    """`sessions list` for people: one line per session."""
    if not listing.sessions:
        return f"No session traces in {listing.checkout} yet."
    lines = [f"{'session':<26} {'started':<24} {'calls':>5} {'errors':>6}  approved  protocol"]
    for item in listing.sessions:
        lines.append(
            f"{item.session_id:<26} {item.started or '?':<24} {item.calls:>5} {item.errors:>6}  "
            f"{item.approved_plan or '-':<8}  {item.protocol_version or '?'}"
        )
    return "\n".join(lines)


def render_trace(trace: SessionTrace) -> str:
    """A human-readable digest of a trace (the full lines are in the file, or `--json`)."""
    header = trace.header
    lines = [
        f"session {trace.session_id}  ({trace.path})",
        f"  started {header.get('started')}  diffusers-integrator {header.get('product_version')}  "
        f"diffusers {header.get('diffusers_version')}  base {str(header.get('base_commit'))[:12]}  "
        f"protocol {header.get('protocol_version')}",
    ]
    for call in trace.calls:
        status = "ERROR" if call.get("is_error") else "ok"
        if (call.get("arguments") or {}).get("dry_run") and not call.get("is_error"):
            what = "dry run (writes nothing, needs no plan)"
        else:
            what = _describe_interaction(call.get("interaction")) or (call.get("error") or "")[:100]
        lines.append(
            f"  {call['seq']:>4}  {call['time'][11:23]}  {call['tool']:<24} {status:<5} "
            f"{call['duration_ms']:>9.1f} ms  {what}".rstrip()
        )
    return "\n".join(lines)


def _describe_interaction(interaction: dict[str, Any] | None) -> str:
    if not interaction:
        return ""
    kind = interaction.get("kind")
    via = interaction.get("via") or "not shown"
    if kind == "approval":
        verdict = interaction.get("verdict") or "no verdict"
        return f"{interaction.get('plan_id')}: {verdict} ({via}) -> {interaction.get('plan_status')}"
    if kind == "answers":
        answers = interaction.get("answers") or []
        if not answers:
            return f"{interaction.get('question_set_id')}: unanswered ({interaction.get('form', via)})"
        chosen = "; ".join(f"{a['header']}={'/'.join(a['selected']) or a.get('note')}" for a in answers)
        return f"{interaction.get('question_set_id')} ({via}): {chosen}"
    if kind == "write":
        plan_id = interaction.get("approved_plan")
        return f"under {plan_id}" if plan_id else "no approved plan"
    return json.dumps(interaction)[:100]
