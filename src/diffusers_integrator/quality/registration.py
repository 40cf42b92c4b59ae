"""Registration and dummies, through the registry engine (`diffusers_integrator.registry`).

Those checks are the registry's: it models every init and generates the dummies byte for byte as upstream's
`utils/check_dummies.py` would. This module only adapts its report to findings and its generator to a fix,
and says "skipped" while the engine is not available (absent, or without `check_registration`).
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkout import Checkout
from ..errors import CheckoutError
from .models import Finding


NOT_AVAILABLE = "skipped: registry engine not available yet"


@dataclass
class RegistryOutcome:
    available: bool
    detail: str
    registration: list[Finding] = field(default_factory=list)
    dummies: list[Finding] = field(default_factory=list)
    broken: bool = False


def available() -> bool:
    """Whether the registry engine exposes `check_registration` in this installation."""
    return _engine("check_registration") is not None


def _engine(name: str) -> Callable[..., Any] | None:
    try:
        from .. import registry
    except Exception:  # absent, or half-written by its author: both mean "not available"
        return None
    return getattr(registry, name, None)


def check(checkout: Checkout, keep: Callable[[str | None, str, int | None], bool] | None = None) -> RegistryOutcome:
    """The engine's findings (errors and warnings) as ours; `keep(name, path, line)` selects those of a change."""
    check_registration = _engine("check_registration")
    if check_registration is None:
        return RegistryOutcome(False, NOT_AVAILABLE)
    kwargs = {"max_findings": 10_000} if "max_findings" in inspect.signature(check_registration).parameters else {}
    try:
        report = check_registration(ConfinedReads(checkout), **kwargs)
    except Exception as error:  # the engine is another contributor's: its failure must not sink the other checks
        return RegistryOutcome(True, f"registry engine failed: {type(error).__name__}: {error}"[:300], broken=True)
    outcome = RegistryOutcome(True, "registry engine (check_registration)")
    left_out = 0
    for item in getattr(report, "findings", []):
        if getattr(item, "severity", "error") == "info":
            continue
        if keep is not None and not keep(
            getattr(item, "name", None), str(getattr(item, "path", "")), getattr(item, "line", None)
        ):
            left_out += 1
            continue
        finding = _finding(item)
        (outcome.dummies if finding.check == "dummies" else outcome.registration).append(finding)
    if left_out:
        outcome.detail += f"; {left_out} finding(s) the tree had before this change left out (scope=all shows them)"
    return outcome


# A plain module or package file name: no character, space, dot or reserved stem that `Checkout.resolve` refuses.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_]+)?$")


class ConfinedReads:
    """The checkout as the registry engine reads it: every path confined as `Checkout.resolve` confines it, the
    folder part resolved once per folder.

    The engine reads ~4,000 files (inits, dummies, every registered module) in ~150 folders; resolving each path
    from the root (every component's real path, the root's own every time) cost more than the engine's work. A
    file under an already confined folder is inside the tree unless it is itself a symlink, and a plain name
    passes every naming rule; anything else (a symlink, an odd name, `..`, an absolute path) goes through
    `Checkout.resolve` itself. Everything else is the checkout's.
    """

    def __init__(self, checkout: Checkout):
        self._checkout = checkout
        self._folders: dict[str, Path] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._checkout, name)

    def resolve(self, path: str | os.PathLike[str], *, package: bool = False) -> Path:
        text = os.fspath(path)
        folder, _, name = text.rpartition("/")
        stem = name.split(".")[0].lower()
        if not package or not _PLAIN_NAME.match(name) or len(stem) <= 4 or text.startswith(("/", "./")):
            return self._checkout.resolve(path, package=package)  # the rare path: every rule, from the root
        base = self._folders.get(folder)
        if base is None:
            try:
                base = self._checkout.resolve(folder or ".", package=True)  # every folder part checked, once
            except CheckoutError:
                return self._checkout.resolve(path, package=package)  # refused as the checkout words it
            self._folders[folder] = base
        target = base / name
        if target.is_symlink():
            return self._checkout.resolve(path, package=package)
        return target


def _finding(item: Any) -> Finding:
    code = str(getattr(item, "code", "registration"))
    path = str(getattr(item, "path", ""))
    fix = getattr(item, "fix", "")
    is_dummy = code.startswith("dummy") or "/dummy_" in path
    message = str(getattr(item, "message", item)) + (f" Fix: {fix}" if fix else "")
    return Finding(
        check="dummies" if is_dummy else "registration",
        path=path,
        line=getattr(item, "line", None),
        col=None,
        code=code,
        message=message[:400],
        # fix=true regenerates dummy files; registrations themselves go through register_lazy_import.
        fixable=is_dummy and bool(getattr(item, "auto_fixable", False)),
    )


def sync(checkout: Checkout) -> tuple[bool, dict[str, str]]:
    """(engine available, new dummy file contents): upstream's generator output, through the registry."""
    if not available():
        return False, {}
    from ..registry.dummies import generate_dummy_files

    top = checkout.read_text("__init__.py", package=True)
    out = {}
    for rel, text in generate_dummy_files(top).items():
        path = f"{checkout.package_rel}/{rel}"
        current = (checkout.root / path).read_text(encoding="utf-8") if (checkout.root / path).is_file() else None
        if current != text:
            out[path] = text
    return True, out
