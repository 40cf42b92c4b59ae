"""Numerical parity between a reference implementation and its diffusers port.

Public names resolve lazily, so `import diffusers_integrator.parity` (the server, a spec file importing
`Checkpoint`) costs no torch import until a name that needs torch is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any


_EXPORTS = {
    # results (pydantic, no torch)
    "ParityReport": "results",
    "ParityError": "results",
    "Tolerance": "results",
    "TensorDiff": "results",
    "ConfigDiff": "results",
    "StateDictDiff": "results",
    "KeyMapCoverage": "results",
    "RoundTripResult": "results",
    "Localization": "results",
    "Divergence": "results",
    # torch-backed helpers
    "compare_tensors": "compare",
    "compare_outputs": "compare",
    "default_tolerance": "compare",
    "diff_configs": "compare",
    "diff_state_dicts": "compare",
    "flatten_outputs": "compare",
    "KeyMap": "convert",
    "split_fused": "convert",
    "fuse": "convert",
    "swap_halves": "convert",
    "round_trip_check": "convert",
    "localize_models": "localize",
    "align_modules": "align",
    # running specs
    "run_spec": "runner",
    "run_spec_in_process": "engine",
}

# Imported eagerly (it does not import torch): the submodule `checkpoint` would otherwise shadow the function of
# the same name once something imports the submodule.
from .checkpoint import (  # noqa: E402
    Checkpoint,
    CheckpointStop,
    capture_preloop,
    checkpoint,
    checkpointed_pipeline,
    on_step_end,
    run_to_checkpoint,
)


__all__ = [
    "Checkpoint",
    "CheckpointStop",
    "ConfigDiff",
    "Divergence",
    "KeyMap",
    "KeyMapCoverage",
    "Localization",
    "ParityError",
    "ParityReport",
    "RoundTripResult",
    "StateDictDiff",
    "TensorDiff",
    "Tolerance",
    "align_modules",
    "capture_preloop",
    "checkpoint",
    "checkpointed_pipeline",
    "compare_outputs",
    "compare_tensors",
    "default_tolerance",
    "diff_configs",
    "diff_state_dicts",
    "flatten_outputs",
    "fuse",
    "localize_models",
    "on_step_end",
    "round_trip_check",
    "run_spec",
    "run_spec_in_process",
    "run_to_checkpoint",
    "split_fused",
    "swap_halves",
]

if TYPE_CHECKING:
    from .align import align_modules
    from .compare import (
        compare_outputs,
        compare_tensors,
        default_tolerance,
        diff_configs,
        diff_state_dicts,
        flatten_outputs,
    )
    from .convert import KeyMap, fuse, round_trip_check, split_fused, swap_halves
    from .engine import run_spec_in_process
    from .localize import localize_models
    from .results import (
        ConfigDiff,
        Divergence,
        KeyMapCoverage,
        Localization,
        ParityError,
        ParityReport,
        RoundTripResult,
        StateDictDiff,
        TensorDiff,
        Tolerance,
    )
    from .runner import run_spec


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
