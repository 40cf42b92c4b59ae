"""The product's rules for running a parity spec of a checkout, shared by `run_parity` and `parity` on the CLI.

`runner.run_spec` runs any spec file in a child process; this module decides which specs of a checkout may run
(never one inside a folder that ships with the PR: upstream review rejects parity harnesses) and where the
report goes (the checkout's state folder), so the MCP tool and the CLI refuse and write alike.
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


# Top-level folders of a diffusers clone that ship with a PR (or hold upstream's own tooling).
SHIPPED_DIRS = ("src", "tests", "scripts", "docs", "examples", "utils")
SPECS_DIR = "specs"
REPORTS_DIR = "reports"


class RunParityRequest(BaseModel):
    """Which spec to run, where and how."""

    spec: str = Field(
        description="The parity spec file (Python with `reference()`, `candidate()`, `inputs()`; see the "
        "parity-testing skill), relative to the checkout root. Keep specs under `.diffusers-integrator/specs/`: "
        "parity harnesses never ship in src/, tests/ or scripts/."
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
        default=None, description="Run on a remote GPU host over SSH: `user@host[:port]` (key auth)."
    )


def run_parity(checkout: Checkout, request: RunParityRequest, progress: ProgressFn | None = None) -> ParityReport:
    """Runs a spec of the checkout and writes its report under `.diffusers-integrator/reports/<spec>-<time>/`."""
    from .runner import run_spec

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
    """The spec file `rel` of the checkout, refused when missing or inside a folder that ships with the PR."""
    spec = checkout.resolve(rel)
    if not spec.is_file():
        raise IntegratorError(f"No parity spec at {rel}.", f"Write it under {STATE_DIR_NAME}/{SPECS_DIR}/.")
    inside = spec.relative_to(checkout.root)
    top = inside.parts[0]
    if top in SHIPPED_DIRS:
        raise IntegratorError(
            f"{inside.as_posix()} is inside `{top}/`, which ships with the PR; upstream review rejects parity harnesses.",
            f"Move it to {STATE_DIR_NAME}/{SPECS_DIR}/{spec.name} and run that.",
        )
    return spec
