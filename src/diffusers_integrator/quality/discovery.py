"""What the checkout offers for its quality gates, read from files only (nothing is imported or run).

A git clone has a Makefile, `utils/check_*.py`, `pyproject.toml` with ruff's settings, setup.py's ruff pin
and docs with a toctree; a package copy has none of them. Every check asks this object what it may use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..checkout import Checkout


# The scripts upstream CI runs (.github/workflows/pr_tests.yml), plus the toctree check `make quality` runs.
# Order is the order CI runs them in.
UPSTREAM_SCRIPTS = (
    "check_copies",
    "check_dummies",
    "check_support_list",
    "check_forward_call_docstrings",
    "check_doc_toc",
)
# Folders upstream's Makefile lints when it has no `check_dirs` line we can read.
DEFAULT_CHECK_DIRS = ("examples", "scripts", "src", "tests", "utils", "benchmarks")
RUFF_CONFIG_FILES = ("ruff.toml", ".ruff.toml", "pyproject.toml")


@dataclass
class Offers:
    make_targets: list[str] = field(default_factory=list)
    scripts: dict[str, str] = field(default_factory=dict)  # script name -> path relative to the root
    ruff_config: str | None = None  # the checkout's own ruff settings, relative to the root
    pinned_ruff: str | None = None
    toctrees: list[str] = field(default_factory=list)  # docs/source/<lang>/_toctree.yml
    check_dirs: list[str] = field(default_factory=list)  # what `ruff` covers for scope=all

    def describe(self) -> str:
        parts = [
            f"Makefile targets: {', '.join(t for t in self.make_targets if t in _GATE_TARGETS) or 'none'}",
            f"upstream scripts: {', '.join(self.scripts) or 'none'}",
            f"ruff config: {self.ruff_config or 'none'}",
            f"ruff pin: {self.pinned_ruff or 'none'}",
            f"toctrees: {len(self.toctrees)}",
        ]
        return "; ".join(parts)


_GATE_TARGETS = {"quality", "style", "fix-copies", "fixup", "repo-consistency", "modified_only_fixup"}


def discover(checkout: Checkout) -> Offers:
    root = checkout.root
    offers = Offers()
    makefile = root / "Makefile"
    makefile_text = makefile.read_text(encoding="utf-8", errors="replace") if makefile.is_file() else ""
    offers.make_targets = sorted(set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile_text, re.M)))
    for name in UPSTREAM_SCRIPTS:
        if (root / "utils" / f"{name}.py").is_file():
            offers.scripts[name] = f"utils/{name}.py"
    for name in RUFF_CONFIG_FILES:
        path = root / name
        if path.is_file() and (name != "pyproject.toml" or "[tool.ruff" in path.read_text(encoding="utf-8")):
            offers.ruff_config = name
            break
    setup = root / "setup.py"
    if setup.is_file():
        match = re.search(r"""["']ruff==([\w.]+)["']""", setup.read_text(encoding="utf-8", errors="replace"))
        offers.pinned_ruff = match.group(1) if match else None
    docs = root / "docs" / "source"
    if docs.is_dir():
        offers.toctrees = sorted(p.relative_to(root).as_posix() for p in docs.glob("*/_toctree.yml"))
    declared = re.search(r"^check_dirs\s*:?=\s*(.+)$", makefile_text, re.M)
    dirs = declared.group(1).split() if declared else list(DEFAULT_CHECK_DIRS)
    targets = [d for d in dirs if (root / d).is_dir()]
    if checkout.layout == "package":
        targets.insert(0, checkout.package_rel)
    if (root / "setup.py").is_file():
        targets.append("setup.py")
    offers.check_dirs = targets
    return offers
