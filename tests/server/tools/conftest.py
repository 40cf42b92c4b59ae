"""Fixtures of the tool tests: the worked example's reference checkpoint and conversion target, for
convert_weights (shared with the core tests in tests/parity/)."""

from __future__ import annotations

from ...parity.checkpoints import reference_state, source, target_dir  # noqa: F401
