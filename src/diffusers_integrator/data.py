"""Where the shipped text data lives: `skills/`, `tools/` and the eval cases in `evals/`.

In a source checkout they sit at the repository root; in an installed wheel they are package data under
`diffusers_integrator/_data/` (see pyproject.toml). One function finds either, so no caller cares which.
"""

from __future__ import annotations

from pathlib import Path

from .errors import IntegratorError


_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder of shipped data `name` (`"skills"`, `"tools"` or `"evals"`)."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise IntegratorError(
        f"The `{name}/` data folder is missing from this installation.",
        "Reinstall from your clone (`pip install --force-reinstall .` there; README: Install): a wheel ships it.",
    )
