"""The writer lock lives in the core, so every edge takes it: the CLI's scaffold and `quality --fix` wait for a
tool call that is writing the same checkout, exactly as two server calls wait for each other."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality import QualityRequest, run_quality
from diffusers_integrator.scaffold import scaffold
from diffusers_integrator.scaffold.schema import ScaffoldRequest


def _waits_in_writing(thread: threading.Thread, entry: str) -> bool:
    """Whether `thread` waits in `Checkout.writing` entered by the core function `entry` itself (so before it
    read anything), not by a registry call deep inside it."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None and frame.f_code.co_name != "writing":
        frame = frame.f_back
    while frame is not None and frame.f_code.co_name in ("writing", "__enter__"):
        frame = frame.f_back
    return frame is not None and frame.f_code.co_name == entry


def _blocked_until_released(checkout: Checkout, entry: str, work: Callable[[], object]) -> None:
    """Runs `work` in a thread while this thread holds the writer lock: `entry` must wait for it, then finish."""
    thread = threading.Thread(target=work)
    with checkout.writing():
        thread.start()
        deadline = time.monotonic() + 60
        while not _waits_in_writing(thread, entry) and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waits_in_writing(thread, entry), f"{entry} did not wait for the lock's holder before reading"
    thread.join(60)
    assert not thread.is_alive()


def test_scaffold_and_a_quality_fix_wait_for_the_writer_and_a_dry_run_does_not(workspace: Path) -> None:
    checkout = Checkout.find(workspace)
    with checkout.writing():
        dry = threading.Thread(target=scaffold, args=(checkout, ScaffoldRequest(model_name="LockProbe", dry_run=True)))
        dry.start()
        dry.join(60)
        assert not dry.is_alive(), "a dry run writes nothing and needs no lock"

    _blocked_until_released(checkout, "scaffold", lambda: scaffold(checkout, ScaffoldRequest(model_name="LockProbe")))
    assert (workspace / "src/diffusers/models/transformers/transformer_lock_probe.py").is_file()

    fix = QualityRequest(scope="changed", checks=["ruff-format"], fix=True)
    _blocked_until_released(checkout, "run_quality", lambda: run_quality(checkout, fix))
