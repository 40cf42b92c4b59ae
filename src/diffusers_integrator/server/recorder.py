"""The session trace recorder: appends every tool call of this server to the checkout's trace file.

The file format (`TraceHeader`, `TraceCall`) and reading traces belong to the core (`diffusers_integrator.traces`),
since evals read them; recording is the edge's job, since only the edge sees calls. Recording is best effort:
a trace that cannot be written is logged on stderr and never fails the tool call it records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from ..checkout import Checkout
from ..errors import IntegratorError
from ..redact import Scrubber
from ..traces import SESSIONS_DIR, TraceCall, TraceHeader, iso_time, new_session_id, now


logger = logging.getLogger(__name__)


class _CallRecord:
    """What `TraceRecorder.call` fills in while the call runs."""

    def __init__(self) -> None:
        self.result: Any = None


class TraceRecorder:
    """Appends a session's calls to its trace file (created with its header on the first call)."""

    def __init__(
        self,
        checkout: Callable[[], Checkout],
        *,
        read_only: bool,
        require_approval: bool,
        approved_plan: Callable[[], str | None],
        session_id: str | None = None,
        started: dt.datetime | None = None,
    ):
        self._checkout = checkout
        self._read_only = read_only
        self._require_approval = require_approval
        self._approved_plan = approved_plan
        self.started = started or now()
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
        started = now()
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
                    time=iso_time(started),
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
            return {"kind": "write", "approved_plan": self._approved_plan()}
        return None

    def _open(self, protocol_version: str | None) -> Path | None:
        """The trace path, writing the header first; None when the session has no checkout to write into."""
        if self._path is not None or self._disabled:
            return self._path
        try:
            checkout = self._checkout()
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
        try:
            facts = checkout.git_facts()
        except Exception:  # a broken git must not cost the trace
            logger.debug("git facts unavailable for the trace header", exc_info=True)
            facts = None
        return TraceHeader(
            session_id=self.session_id,
            started=iso_time(self.started),
            diffusers_version=checkout.diffusers_version(),
            base_commit=facts.merge_base if facts else None,
            head_commit=facts.head if facts else None,
            branch=facts.branch if facts else None,
            protocol_version=protocol_version,
            read_only=self._read_only,
            require_approval=self._require_approval,
        )


def _jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True)
    return to_jsonable_python(result, fallback=repr)


def _error_text(error: BaseException) -> str:
    if isinstance(error, ToolError | IntegratorError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"


def _append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")
        stream.flush()
