"""Fixtures of the parity tests: the worked example's reference checkpoint and conversion target."""

from __future__ import annotations

from .checkpoints import reference_state, source, target_dir  # noqa: F401
