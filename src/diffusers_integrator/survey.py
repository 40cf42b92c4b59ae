"""What a checkout offers: its layout, version, git state and which upstream helpers it has.

A git clone has a Makefile, `utils/check_*.py`, docs and tester mixins; an sdist or a package copy has
none of them. Tools adapt to what is here and say what they skip, so the survey is their shared source.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from .checkout import Checkout, GitFacts


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


class CheckoutSurvey(BaseModel):
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


def survey(checkout: Checkout) -> CheckoutSurvey:
    """Inspects the checkout without importing anything from it."""
    present = {rel: why for rel, why in UPSTREAM_HELPERS.items() if (checkout.root / rel).is_file()}
    missing = [rel for rel in UPSTREAM_HELPERS if rel not in present]
    make_targets: list[str] = []
    if "Makefile" in present:
        make_targets = sorted(set(re.findall(r"^([A-Za-z][\w-]*):", checkout.read_text("Makefile"), re.M)))
    pinned_ruff = None
    if "setup.py" in present:
        match = re.search(r'"ruff==([^"]+)"', checkout.read_text("setup.py"))
        pinned_ruff = match.group(1) if match else None
    package = checkout.package_dir
    counts = {
        "model_files": len(list((package / "models").glob("*/*.py"))),
        "pipeline_packages": sum(1 for p in (package / "pipelines").iterdir() if (p / "__init__.py").is_file()),
        "scheduler_files": len(list((package / "schedulers").glob("scheduling_*.py"))),
        "modular_packages": sum(1 for p in (package / "modular_pipelines").glob("*") if (p / "__init__.py").is_file()),
    }
    return CheckoutSurvey(
        root=str(checkout.root),
        layout=checkout.layout,
        package=checkout.package_rel,
        diffusers_version=checkout.diffusers_version(),
        git=checkout.git_facts(),
        helpers_present=present,
        helpers_missing=missing,
        make_targets=make_targets,
        pinned_ruff=pinned_ruff,
        counts=counts,
        next_step=(
            "Read the `integrating-models` skill (get_skill), gather the reference repo and script with "
            "ask_user_question, then get the plan accepted with confirm_plan before writing anything."
        ),
    )
