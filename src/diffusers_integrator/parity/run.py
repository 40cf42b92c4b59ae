"""The product's rules for running a parity spec of a checkout, shared by `run_parity` and `parity` on the CLI.

`runner.run_spec` runs any spec file in a child process; this module decides which specs of a checkout may run
and where the report goes, so the MCP tool and the CLI refuse and write alike. A spec is Python the user's
agent wrote, and running it executes that code with the user's rights: so a spec runs only from the
checkout's `.diffusers-integrator/specs/` (never from a folder that ships with the PR, where upstream review
rejects parity harnesses, nor from anywhere else in or out of the tree), and its report goes under the
checkout's state folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..checkout import STATE_DIR_NAME, Checkout
from ..errors import IntegratorError
from ..progress import ProgressFn
from .results import ParityReport
from .runner import HOST_PATTERN, run_spec


# Top-level folders of a diffusers clone that ship with a PR (or hold upstream's own tooling).
SHIPPED_DIRS = ("src", "tests", "scripts", "docs", "examples", "utils")
SPECS_DIR = "specs"
REPORTS_DIR = "reports"


class RunParityRequest(BaseModel):
    """Which spec to run, where and how."""

    spec: str = Field(
        min_length=1,
        max_length=500,
        description="The parity spec file under `.diffusers-integrator/specs/` (Python with `reference()`, "
        "`candidate()`, `inputs()`; see the parity-testing skill), relative to the checkout root, e.g. "
        "`.diffusers-integrator/specs/parity_foo.py`. It is executed: specs anywhere else are refused.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="`auto` prefers CUDA. Component parity belongs on cpu (fp32)."
    )
    dtype: Literal["float32", "bfloat16", "float16"] | None = Field(
        default=None, description="Override the spec's dtype (default: fp32 on cpu, bf16 on cuda)."
    )
    localize: bool = Field(default=True, description="Hook aligned modules to find the first divergent one.")
    timeout_s: float = Field(default=900, gt=0, le=6 * 3600, description="Wall-clock limit of the child process.")
    host: str | None = Field(
        default=None,
        max_length=330,
        pattern=HOST_PATTERN,
        description="Run on a remote GPU host over SSH: `user@host` or `user@host:port` (key auth).",
    )


def run_parity(checkout: Checkout, request: RunParityRequest, progress: ProgressFn | None = None) -> ParityReport:
    """Runs a spec of the checkout and writes its report under `.diffusers-integrator/reports/<spec>-<time>/`."""
    spec = spec_path(checkout, request.spec)
    out_dir = checkout.state_dir / REPORTS_DIR / f"{spec.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    return run_spec(
        spec,
        out_dir,
        device=request.device,
        timeout_s=request.timeout_s,
        localize=request.localize,
        progress=progress,
        dtype=request.dtype,
        host=request.host,
    )


def spec_path(checkout: Checkout, rel: str) -> Path:
    """The spec file `rel` of the checkout, refused unless it is a file under `.diffusers-integrator/specs/`."""
    specs = f"{STATE_DIR_NAME}/{SPECS_DIR}"
    spec = checkout.resolve(rel)  # refuses `..`, odd names and symlinks that leave the tree
    inside = spec.relative_to(checkout.root)
    name = spec.name if len(spec.name) <= 100 else "parity_spec.py"
    if inside.parts[:2] != (STATE_DIR_NAME, SPECS_DIR) or len(inside.parts) < 3:
        top = inside.parts[0]
        why = (
            f"is inside `{top}/`, which ships with the PR; upstream review rejects parity harnesses"
            if top in SHIPPED_DIRS
            else f"is not under `{specs}/`, the only place specs run from (running a spec executes it)"
        )
        raise IntegratorError(
            f"`spec`: {_shown(inside.as_posix())} {why}.", f"Move it to {specs}/{name} and run that."
        )
    real = spec.resolve()
    if checkout.root.resolve() / STATE_DIR_NAME / SPECS_DIR not in real.parents:  # a symlink within the tree
        raise IntegratorError(
            f"`spec`: {_shown(inside.as_posix())} leads out of `{specs}/` (a symlink).",
            f"Put the spec file itself in {specs}/, not a link to it.",
        )
    try:
        found = spec.is_file()
    except OSError as error:  # a name too long for the file system, and the like
        raise IntegratorError(
            f"`spec`: {_shown(rel)} cannot be opened ({error.strerror}).", f"Name a spec file under {specs}/."
        ) from None
    if not found:
        raise IntegratorError(f"`spec`: no parity spec at {_shown(rel)}.", f"Write it under {specs}/, then run it.")
    return spec


def _shown(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
