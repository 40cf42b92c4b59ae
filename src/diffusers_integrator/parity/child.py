"""Child-process entry: `python -m diffusers_integrator.parity.child --spec SPEC --out DIR [--device auto] ...`.

Its stdout carries only JSON lines (events: `start`, `progress`, `done`); anything the spec prints is sent to
stderr, which the parent keeps as `child.log`. The report files are written into `--out`. A memory watchdog
in this process ends it with a `memory` error report when its RSS passes `--memory-limit-mb` — the same guard
works on a remote host, where the parent cannot watch the process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO


MEMORY_EXIT_CODE = 3


def _rss_mb(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class Events:
    def __init__(self, stream: TextIO):
        self.stream = stream
        self.lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, default=str)
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _watch_memory(limit_mb: float, out_dir: Path, spec: str, events: Events) -> None:
    from .report import write_report
    from .results import ParityError, ParityReport

    while True:
        rss = _rss_mb()
        if rss > limit_mb:
            report = ParityReport(
                status="error",
                spec=spec,
                error=ParityError(
                    kind="memory",
                    message=f"the spec used {rss:.0f} MB of host memory, over the {limit_mb:.0f} MB limit.",
                    fix="Use smaller inputs or fewer layers, build one model at a time inside reference()/candidate(), "
                    "or raise memory_limit_mb.",
                ),
                peak_rss_mb=round(rss, 1),
            )
            try:
                write_report(report, out_dir)
            finally:
                events.emit("done", status="error", error="memory")
                os._exit(MEMORY_EXIT_CODE)
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffusers_integrator.parity.child")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--no-localize", action="store_true")
    parser.add_argument("--memory-limit-mb", type=float, default=None)
    args = parser.parse_args(argv)

    # Keep the real stdout for events; everything else printed (by the spec, by libraries) goes to stderr.
    events_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    events = Events(os.fdopen(events_fd, "w", buffering=1))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    events.emit("start", pid=os.getpid())

    if args.memory_limit_mb:
        threading.Thread(
            target=_watch_memory, args=(args.memory_limit_mb, out_dir, args.spec, events), daemon=True
        ).start()

    from .engine import run_spec_in_process

    def progress(done: int, total: int, message: str) -> None:
        events.emit("progress", done=done, total=total, message=message)

    report = run_spec_in_process(
        args.spec, out_dir, device=args.device, dtype=args.dtype, localize=not args.no_localize, progress=progress
    )
    events.emit("done", status=report.status, report=str(out_dir / "report.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
