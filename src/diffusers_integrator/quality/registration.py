"""Registration and dummies, through the registry engine (`diffusers_integrator.registry`).

Those checks are the registry's: it models every init and generates the dummies byte for byte. This module
only adapts its answer to findings, and says "skipped" while the engine is not available.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..checkout import Checkout
from .models import Finding


NOT_AVAILABLE = "skipped: registry engine not available yet"


@dataclass
class RegistryOutcome:
    available: bool
    detail: str
    registration: list[Finding] = field(default_factory=list)
    dummies: list[Finding] = field(default_factory=list)


def _engine(name: str) -> Callable[..., Any] | None:
    try:
        from .. import registry
    except Exception:  # absent, or half-written by its author: both mean "not available"
        return None
    return getattr(registry, name, None)


def check(checkout: Checkout) -> RegistryOutcome:
    check_registration = _engine("check_registration")
    if check_registration is None:
        return RegistryOutcome(False, NOT_AVAILABLE)
    report = check_registration(checkout)
    outcome = RegistryOutcome(True, "registry engine: check_registration")
    for item in _items(report):
        finding = _finding(item)
        (outcome.dummies if finding.check == "dummies" else outcome.registration).append(finding)
    return outcome


def sync(checkout: Checkout) -> tuple[bool, dict[str, str | None]]:
    """(engine available, new file contents) for registration and dummy sync; nothing is written here."""
    return False, {}


def _items(report: Any) -> list[Any]:
    for name in ("findings", "problems", "issues"):
        items = getattr(report, name, None)
        if items is not None:
            return list(items)
    return list(report) if isinstance(report, list) else []


def _finding(item: Any) -> Finding:
    get = item.get if isinstance(item, dict) else lambda key, default=None: getattr(item, key, default)
    code = str(get("code") or get("kind") or "registration")
    path = str(get("path") or get("file") or "")
    check = "dummies" if "dumm" in code.lower() or "/dummy_" in path else "registration"
    return Finding(
        check=check,
        path=path,
        line=get("line"),
        col=get("col") or get("column"),
        code=code,
        message=str(get("message") or get("problem") or item)[:400],
        fixable=bool(get("fixable", False)),
    )
