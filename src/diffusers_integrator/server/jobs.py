"""Background jobs: long work that outlives the tool call that started it.

Clients hang up a tool call after 30–60 s (Claude Code) or ~4 min (Claude Desktop), and progress does not
reset that. So a tool that may run long takes `wait_s`: `session.jobs.run(...)` starts the work in a thread,
relays its progress to the caller while waiting, and returns either the finished result or, once `wait_s`
has passed, a job reference at once while the work goes on. `job_status` reports state, progress and the
result later. Jobs belong to the server process, not to a client connection, so they survive a client
disconnecting; a job that outlived its call is also written to `.diffusers-integrator/jobs/<id>.json`, so a
later server process can still report how it ended.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, create_model

from ..errors import IntegratorError
from ..progress import ProgressFn
from ..redact import Scrubber
from .clients import LOCAL_CLIENT, current_client


logger = logging.getLogger(__name__)

JobState = Literal["running", "succeeded", "failed", "lost"]
R = TypeVar("R", bound=BaseModel)


DEFAULT_WAIT_S = 20.0
MAX_WAIT_S = 50.0
WaitSeconds = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_WAIT_S,
        description="Seconds to wait for the work to finish before returning a job id to poll with job_status "
        "(0 starts it in the background at once).",
    ),
]
JOBS_DIR = "jobs"
M = TypeVar("M", bound=BaseModel)


def with_wait(core_model: type[M], name: str) -> type[M]:
    """The request of a background tool: the core's request plus `wait_s`, which the core never sees."""
    doc = f"{core_model.__doc__ or name} Plus how long to wait before handing back a job id."
    return create_model(name, __base__=core_model, __doc__=doc, wait_s=(WaitSeconds, DEFAULT_WAIT_S))


def without_wait(request: BaseModel, core_model: type[M]) -> M:
    """The core's request inside an edge request that adds `wait_s`."""
    return core_model.model_validate(request.model_dump(exclude={"wait_s"}))


class JobProgress(BaseModel):
    """The latest progress a job reported."""

    done: float
    total: float | None = None
    message: str | None = None


class JobRef(BaseModel):
    """A job still running when the call that started it returned."""

    job_id: str
    name: str
    state: JobState
    progress: JobProgress | None = None
    next_step: str


class JobResult(BaseModel, Generic[R]):
    """What a long tool returns: `result` when the work ended within `wait_s`, else `job` to poll.

    Exactly one of the two is set. Parametrise it with the tool's own result model (`JobResult[ParityReport]`)
    so the MCP output schema names the result's fields.
    """

    job: JobRef | None = Field(default=None, description="Set when the work outlived wait_s: poll job_status.")
    result: R | None = Field(default=None, description="Set when the work finished within wait_s.")


class JobInfo(BaseModel):
    """One job, as `job_status` reports it."""

    job_id: str
    name: str
    state: JobState
    progress: JobProgress | None = None
    started: str
    finished: str | None = None
    duration_s: float | None = None
    error: str | None = Field(default=None, description="Why the job failed, and what to do.")
    session_id: str | None = None


class JobStatusRequest(BaseModel):
    """Arguments of `job_status`."""

    job_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^job-[0-9a-f]{4,32}$",
        description="The job to report on (`job-` and hex digits, as a tool returned it); omit it to list this "
        "session's jobs.",
    )
    wait_s: float = Field(
        default=10.0,
        ge=0,
        le=MAX_WAIT_S,
        description="Seconds to wait for the job to finish (progress is reported meanwhile); 0 answers at once.",
    )


class JobStatusResult(BaseModel):
    """What `job_status` returns."""

    job: JobInfo | None = Field(default=None, description="The job asked about.")
    result: dict[str, Any] | None = Field(
        default=None, description="The finished job's result, exactly as its tool would have returned it."
    )
    jobs: list[JobInfo] = Field(default_factory=list, description="Without job_id: the session's jobs, oldest first.")
    next_step: str


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Job:
    """One unit of background work. Its fields are guarded by `condition`."""

    def __init__(self, name: str, session_id: str | None):
        self.id = f"job-{secrets.token_hex(8)}"
        self.name = name
        self.session_id = session_id
        self.client = current_client()  # over HTTP, only the client that started a job sees it
        self.started = time.time()
        self.finished: float | None = None
        self.state: JobState = "running"
        self.progress: JobProgress | None = None
        self.progress_version = 0
        self.result: BaseModel | None = None
        self.error: BaseException | None = None
        self.condition = threading.Condition()
        # Serialises writes of the job's record, so an older state never overwrites a newer one.
        self.persist_lock = threading.Lock()

    def info(self) -> JobInfo:
        with self.condition:
            error = None
            if self.error is not None:
                error = (
                    str(self.error)
                    if isinstance(self.error, IntegratorError)
                    else (
                        f"The job crashed ({type(self.error).__name__}: {self.error}). This is a bug in "
                        "diffusers-integrator: report it, and do the step by hand meanwhile."
                    )
                )
            return JobInfo(
                job_id=self.id,
                name=self.name,
                state=self.state,
                progress=self.progress,
                started=_iso(self.started),
                finished=_iso(self.finished) if self.finished else None,
                duration_s=round(self.finished - self.started, 3) if self.finished else None,
                error=error,
                session_id=self.session_id,
            )


class JobRegistry:
    """The jobs of one session (one server process).

    Use it from a tool handler (a worker thread), as `server/tools/run_parity.py` does:

        def handle(session, request, progress):
            return session.jobs.run("run_parity", lambda report: run_parity(checkout, request, report),
                                    wait_s=request.wait_s, progress=progress, result_model=ParityReport)

    with `JobResult[ParityReport]` as the ToolSpec's result model and `wait_s: WaitSeconds = DEFAULT_WAIT_S`
    in the request model.
    """

    def __init__(self, state_dir: Callable[[], Path] | None = None, session_id: str | None = None):
        """`state_dir()` is the checkout's state folder, where job records go (it may raise IntegratorError)."""
        self._state_dir = state_dir
        self.session_id = session_id
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    # ------------------------------------------------------------------ starting work

    def run(
        self,
        name: str,
        work: Callable[[ProgressFn], R],
        *,
        wait_s: float = DEFAULT_WAIT_S,
        progress: ProgressFn | None = None,
        result_model: type[R],
    ) -> JobResult[R]:
        """Runs `work(progress)` in a background thread and waits up to `wait_s` for it.

        Finished in time: returns `JobResult(result=...)`, or raises the work's exception (an
        `IntegratorError` becomes the tool's error as if the work had run inline). Still running: registers
        the job and returns `JobResult(job=JobRef)` at once; the work goes on. Progress the work reports is
        relayed to `progress` while this call waits, and kept on the job for `job_status`.
        """
        job = self._start(name, work, result_model)
        finished = self._wait(job, wait_s, progress)
        outcome = JobResult[result_model]  # type: ignore[valid-type]
        if finished:
            if job.error is not None:
                raise job.error
            return outcome(result=job.result)
        with self._lock:
            self._jobs[job.id] = job
        self._persist(job)
        info = job.info()  # it may have ended since the wait: report it as it is now
        return outcome(
            job=JobRef(
                job_id=job.id,
                name=name,
                state=info.state,
                progress=info.progress,
                next_step=f"The work goes on in the background. Call job_status(job_id={job.id!r}) to follow "
                "its progress and get the result; do something else meanwhile if you can.",
            )
        )

    def _start(self, name: str, work: Callable[[ProgressFn], R], result_model: type[R]) -> Job:
        job = Job(name, self.session_id)

        def report(done: float, total: float | None = None, message: str | None = None) -> None:
            with job.condition:
                job.progress = JobProgress(done=done, total=total, message=message)
                job.progress_version += 1
                job.condition.notify_all()

        def target() -> None:
            result: BaseModel | None = None
            error: BaseException | None = None
            try:
                result = work(report)
                if not isinstance(result, result_model):
                    raise TypeError(f"job {name!r} returned {type(result).__name__}, not {result_model.__name__}")
            except BaseException as caught:  # kept for job_status; a crash is also logged with its traceback
                error = caught
                if not isinstance(caught, IntegratorError):
                    logger.error("job %s (%s) crashed", job.id, name, exc_info=True)
            with job.condition:
                job.result, job.error = result, error
                job.state = "failed" if error is not None else "succeeded"
                job.finished = time.time()
                job.condition.notify_all()
            with self._lock:
                registered = job.id in self._jobs
            if registered:
                self._persist(job)

        # Not a daemon: when the client closes stdio, the process waits for the job to finish and record its
        # result instead of killing it half-way.
        threading.Thread(target=target, name=f"{job.id}:{name}", daemon=False).start()
        return job

    def _wait(self, job: Job, wait_s: float, progress: ProgressFn | None) -> bool:
        """Waits until the job ends or `wait_s` passes, relaying progress; True when it ended."""
        deadline = time.monotonic() + wait_s
        seen = -1
        while True:
            with job.condition:
                remaining = deadline - time.monotonic()
                if job.state == "running" and job.progress_version == seen and remaining > 0:
                    job.condition.wait(remaining)
                state, version, latest = job.state, job.progress_version, job.progress
            if progress is not None and version != seen and latest is not None:
                progress(latest.done, latest.total, latest.message)
            seen = version
            if state != "running":
                return True
            if time.monotonic() >= deadline:
                return False

    # ------------------------------------------------------------------ reporting

    def status(self, job_id: str | None, wait_s: float = 0.0, progress: ProgressFn | None = None) -> JobStatusResult:
        """The job's state, progress and result (waiting up to `wait_s` for it), or the list of jobs."""
        client = current_client()
        if job_id is None:
            with self._lock:
                jobs = [job.info() for job in self._jobs.values() if job.client == client]
            running = [job.job_id for job in jobs if job.state == "running"]
            return JobStatusResult(
                jobs=jobs,
                next_step=(
                    f"Running: {', '.join(running)}. Call job_status(job_id=...) for one job's progress and result."
                    if running
                    else "No job is running."
                    if jobs
                    else "This session has started no background job."
                ),
            )
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None and job.client != client:
            job = None  # another client's job: as unknown to this one as a job that never was
        elif job is None and client == LOCAL_CLIENT:
            # Records on disk are for a later server on the same checkout; over HTTP they could be another
            # client's, so only the process's one local client reads them.
            return self._status_from_disk(job_id)
        if job is None:
            raise IntegratorError(
                f"No job {job_id!r} in this session.",
                "Pass a job_id a tool returned to you, or call job_status without job_id to list your jobs.",
            )
        self._wait(job, wait_s, progress)
        info = job.info()
        result = job.result.model_dump(mode="json", by_alias=True) if job.result is not None else None
        return JobStatusResult(job=info, result=result, next_step=_next_step(info))

    def _status_from_disk(self, job_id: str) -> JobStatusResult:
        path = self._job_path(job_id)
        if path is None or not path.is_file():
            with self._lock:
                known = ", ".join(job for job, held in self._jobs.items() if held.client == LOCAL_CLIENT) or "none"
            raise IntegratorError(
                f"No job {job_id!r} in this session (its jobs: {known}) or in the checkout's job records.",
                "Pass a job_id a tool returned, or call job_status without job_id to list the jobs.",
            )
        record = json.loads(path.read_text(encoding="utf-8"))
        info = JobInfo.model_validate(record["job"])
        if info.state == "running" and not _alive(record.get("pid")):
            info.state = "lost"
            info.error = (
                "The server process that ran this job ended before the job did, so its result is lost. "
                "Start the work again."
            )
        return JobStatusResult(job=info, result=record.get("result"), next_step=_next_step(info))

    # ------------------------------------------------------------------ on disk

    def _job_path(self, job_id: str) -> Path | None:
        if self._state_dir is None or not job_id.replace("-", "").isalnum():
            return None
        try:
            return self._state_dir() / JOBS_DIR / f"{job_id}.json"
        except IntegratorError:
            return None

    def _persist(self, job: Job) -> None:
        """Writes the job's record (scrubbed like a trace); best effort."""
        path = self._job_path(job.id)
        if path is None:
            return
        try:
            with job.persist_lock:
                with job.condition:
                    result = job.result.model_dump(mode="json", by_alias=True) if job.result is not None else None
                record = {"pid": os.getpid(), "job": job.info().model_dump(mode="json"), "result": result}
                path.parent.mkdir(parents=True, exist_ok=True)
                temp = path.with_suffix(".tmp")
                temp.write_text(json.dumps(Scrubber().data(record), indent=1), encoding="utf-8")
                os.replace(temp, path)
        except Exception:
            logger.warning("could not write the record of %s", job.id, exc_info=True)


def _next_step(info: JobInfo) -> str:
    if info.state == "running":
        return f"Still running. Call job_status(job_id={info.job_id!r}) again for progress and the result."
    if info.state == "succeeded":
        return "Finished: `result` holds what the tool returns."
    return info.error or "The job did not finish."


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
