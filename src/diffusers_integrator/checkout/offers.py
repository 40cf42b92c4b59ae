"""What a checkout offers, read from its files alone (nothing is imported or run).

A git clone has a Makefile, `utils/check_*.py`, ruff settings, setup.py's ruff pin, docs with a toctree and the
tester mixins; a package copy has none of them. Tools adapt to what is here and say what they skip, so this
module is their one source: `read_offers` for the tools, `survey` for the `inspect_checkout` answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from .tree import Checkout, GitFacts


# Upstream helpers other tools use when present, with what each is for.
UPSTREAM_HELPERS: dict[str, str] = {
    "Makefile": "make style / quality / fix-copies targets",
    "setup.py": "the pinned ruff version",
    "pyproject.toml": "ruff configuration",
    "utils/check_dummies.py": "upstream dummy-object check",
    "utils/check_copies.py": "upstream `# Copied from` check",
    "utils/check_doc_toc.py": "upstream docs toctree check",
    "utils/check_support_list.py": "upstream support-list check",
    "utils/check_forward_call_docstrings.py": "upstream forward/call docstring check",
    "utils/custom_init_isort.py": "upstream init sorter",
    "utils/generate_model_tests.py": "upstream model-test generator (scaffold uses it)",
    "docs/source/en/_toctree.yml": "the docs table of contents",
    "tests/models/testing_utils/__init__.py": "model tester mixins (BaseModelTesterConfig, ...)",
    "tests/testing_utils.py": "shared test utilities",
}
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
# `"ruff==0.9.10"` or `'ruff==0.9.10'` in setup.py's dependency table.
_RUFF_PIN = re.compile(r"""["']ruff==([\w.]+)["']""")
# A make target, not a variable assignment (`check_dirs := ...`).
_MAKE_TARGET = re.compile(r"^([A-Za-z][\w-]*)\s*:(?!=)", re.M)
_GATE_TARGETS = {"quality", "style", "fix-copies", "fixup", "repo-consistency", "modified_only_fixup"}


@dataclass
class Offers:
    """The upstream helpers a checkout has, as paths relative to its root."""

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


def _read(checkout: Checkout, rel: str) -> str:
    path = checkout.root / rel
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def read_offers(checkout: Checkout) -> Offers:
    """Every upstream helper the quality gates and the scaffold may use in this checkout."""
    root = checkout.root
    offers = Offers()
    makefile_text = _read(checkout, "Makefile")
    offers.make_targets = sorted(set(_MAKE_TARGET.findall(makefile_text)))
    for name in UPSTREAM_SCRIPTS:
        if (root / "utils" / f"{name}.py").is_file():
            offers.scripts[name] = f"utils/{name}.py"
    for name in RUFF_CONFIG_FILES:
        if (root / name).is_file() and (name != "pyproject.toml" or "[tool.ruff" in _read(checkout, name)):
            offers.ruff_config = name
            break
    match = _RUFF_PIN.search(_read(checkout, "setup.py"))
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


class InspectCheckoutResult(BaseModel):
    """The answer of `inspect_checkout`."""

    root: str
    layout: str = Field(description="`git-clone` (src/diffusers) or `package` (a bare diffusers package).")
    package: str = Field(description="The package folder relative to the root.")
    diffusers_version: str | None
    git: GitFacts
    helpers_present: dict[str, str] = Field(description="Upstream helpers found, with what each is used for.")
    helpers_missing: list[str] = Field(description="Upstream helpers not in this tree; tools skip what needs them.")
    make_targets: list[str] = Field(default_factory=list)
    pinned_ruff: str | None = Field(default=None, description="The ruff version setup.py pins, if any.")
    counts: dict[str, int] = Field(description="Model, pipeline, scheduler and modular package files in the tree.")
    next_step: str


def survey(checkout: Checkout) -> InspectCheckoutResult:
    """Describes the checkout for an agent about to integrate a model into it."""
    present = {rel: why for rel, why in UPSTREAM_HELPERS.items() if (checkout.root / rel).is_file()}
    missing = [rel for rel in UPSTREAM_HELPERS if rel not in present]
    offers = read_offers(checkout)
    package = checkout.package_dir
    counts = {
        "model_files": len(list((package / "models").glob("*/*.py"))),
        "pipeline_packages": sum(1 for p in (package / "pipelines").iterdir() if (p / "__init__.py").is_file()),
        "scheduler_files": len(list((package / "schedulers").glob("scheduling_*.py"))),
        "modular_packages": sum(1 for p in (package / "modular_pipelines").glob("*") if (p / "__init__.py").is_file()),
    }
    return InspectCheckoutResult(
        root=str(checkout.root),
        layout=checkout.layout,
        package=checkout.package_rel,
        diffusers_version=checkout.diffusers_version(),
        git=checkout.git_facts(),
        helpers_present=present,
        helpers_missing=missing,
        make_targets=offers.make_targets,
        pinned_ruff=offers.pinned_ruff,
        counts=counts,
        next_step=(
            "Read the `integrating-models` skill (get_skill), gather the reference repo and script with "
            "ask_user_question, then get the plan accepted with confirm_plan before writing anything."
        ),
    )
