"""Session traces: every tool call of a session, one JSON line each, under the checkout's state folder.

`.diffusers-integrator/sessions/<session-id>.jsonl` holds a header line (product and diffusers versions, the
base commit, the protocol version), then one line per call: seq, time, tool, arguments, structured result or
error, is_error, duration_ms, and the answer or approval involved. A trace is what an eval case replays, and
what a reviewer reads to see that the human was asked before anything was written.

This module holds the format and the reading (evals and `sessions list|show|score` use it); the server's
`recorder` writes the lines, scrubbed of secrets by `diffusers_integrator.redact`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from . import __version__
from .checkout import STATE_DIR_NAME
from .errors import IntegratorError


if TYPE_CHECKING:
    from .checkout import Checkout

logger = logging.getLogger(__name__)

TRACE_FORMAT = 1
SESSIONS_DIR = "sessions"

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


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso_time(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_session_id(moment: dt.datetime | None = None) -> str:
    """Sortable by time, unique across processes: `20261101T120304Z-3f9a1c`."""
    return f"{(moment or now()).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


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
