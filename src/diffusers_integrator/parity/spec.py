"""Loading a parity spec: a Python file with `reference()`, `candidate()`, `inputs()` and optional settings.

| name | required | meaning |
|---|---|---|
| `reference()`, `candidate()` | yes | build one side: an `nn.Module` or a callable (built one after the other) |
| `inputs()` | yes | deterministic inputs: a dict of keyword arguments, a tuple of positional ones, or one tensor |
| `weight_map` | no | reference module -> candidate module(s), for localisation when names differ |
| `tolerances` | no | dict: `max_abs`, `min_cosine`, `max_rel`; per-module `module_max_rel`, `module_min_cosine`, and `module_check` = "fail" (default) or "warn" |
| `stages` | no | stage tests: {stage: {point: {"save", "stop", "inject"}}} (see `engine.run_stages`) |
| `configs()` | no | (reference config, candidate config[, key map]) to diff |
| `dtype` | no | "float32", "bfloat16", ...: overrides the device default |
| `keep_dtype` | no | input names the runner must not cast to the run dtype (positions, integer-like floats) |
| `remote_files` | no | paths (relative to the spec) to copy along when the spec runs on a remote host |

Any of the three functions may take `device` and/or `dtype` keyword parameters; the runner then passes the
resolved values and leaves moving and casting to the spec.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import IntegratorError


class SpecError(IntegratorError):
    """The spec file is missing something or does not import."""


@dataclass
class Spec:
    path: Path
    module: ModuleType
    reference: Callable[..., Any]
    candidate: Callable[..., Any]
    inputs: Callable[..., Any]
    weight_map: Mapping[str, Any] | None = None
    tolerances: Mapping[str, Any] = field(default_factory=dict)
    stages: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None
    configs: Callable[[], Any] | None = None
    dtype: str | None = None
    keep_dtype: tuple[str, ...] = ()
    remote_files: tuple[str, ...] = ()


def load_spec(path: str | Path) -> Spec:
    """Import the spec file as a fresh module (its directory first on sys.path, for sibling helpers)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise SpecError(f"no parity spec at {path}.", "Write one (see the parity-testing skill, spec-format.md).")
    name = f"_parity_spec_{abs(hash(str(path)))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise SpecError(f"cannot import {path}.", "A spec is a .py file.")
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    missing = [n for n in ("reference", "candidate", "inputs") if not callable(getattr(module, n, None))]
    if missing:
        raise SpecError(
            f"{path.name} does not define {', '.join(f'{m}()' for m in missing)}.",
            "A spec defines reference(), candidate() and inputs(); see spec-format.md.",
        )
    stages = getattr(module, "stages", None)
    if stages is not None and not isinstance(stages, Mapping):
        raise SpecError(
            "`stages` must be a dict {stage: {point: settings}}.", 'e.g. {"encode": {"preloop": {"stop": True}}}'
        )
    tolerances = getattr(module, "tolerances", None) or {}
    if not isinstance(tolerances, Mapping):
        tolerances = tolerances.model_dump() if hasattr(tolerances, "model_dump") else dict(vars(tolerances))
    return Spec(
        path=path,
        module=module,
        reference=module.reference,
        candidate=module.candidate,
        inputs=module.inputs,
        weight_map=getattr(module, "weight_map", None),
        tolerances=tolerances,
        stages=stages,
        configs=getattr(module, "configs", None),
        dtype=getattr(module, "dtype", None) if isinstance(getattr(module, "dtype", None), str) else None,
        keep_dtype=tuple(getattr(module, "keep_dtype", ()) or ()),
        remote_files=tuple(getattr(module, "remote_files", ()) or ()),
    )


def call_with_context(fn: Callable[..., Any], **context: Any) -> Any:
    """Call a spec function, passing only the context keywords (`device`, `dtype`) it declares."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn()
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return fn(**{k: v for k, v in context.items() if accepts_any or k in params})


def accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
