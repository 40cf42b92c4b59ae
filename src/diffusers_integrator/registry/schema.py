"""The pydantic inputs and results of the registry tools (what MCP and the CLI expose)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..checkout import FileChange


_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SymbolSpec(BaseModel):
    """One public name to register."""

    name: str = Field(
        pattern=_IDENTIFIER, description="The class, function or constant, e.g. `FooTransformer2DModel`."
    )
    module: str = Field(
        description="Where it is defined: dotted (`diffusers.models.transformers.transformer_foo`) or a path in "
        "the checkout (`src/diffusers/models/transformers/transformer_foo.py`)."
    )
    export: bool = Field(
        default=True,
        description="Also export it from the top-level `diffusers` namespace (and every package init on the way, "
        "with a dummy object); false registers it only in the init of the package that holds the module, as "
        "upstream does for pipeline output dataclasses and helper models.",
    )
    backends: list[str] | None = Field(
        default=None,
        description="Backends this name needs (`torch`, `transformers`, `sentencepiece`, …); overrides both the "
        "call-wide `backends` and the inference.",
    )


class NameStatus(BaseModel):
    """What happened to one name."""

    name: str
    module: str = Field(description="The module file, relative to the checkout root.")
    export: bool = True
    backends: list[str] = Field(default_factory=list)
    backends_source: Literal["given", "inferred", "existing"] = "inferred"
    backends_reason: str = ""
    added_to: list[str] = Field(default_factory=list, description="Files the name was added to (or moved within).")
    already_in: list[str] = Field(default_factory=list, description="Files that already registered it correctly.")
    removed_from: list[str] = Field(default_factory=list, description="Files it was removed from.")
    init_form: str = Field(
        default="",
        description="When this call creates the package init that holds the name: which of the forms upstream "
        "writes such inits in it follows (e.g. the output dataclass unguarded or under the guard), after which inits.",
    )


class NotPlaced(BaseModel):
    """A name the call left out whole (nothing of it written), and why."""

    name: str
    path: str = Field(description="The init it could not be placed in, relative to the checkout root.")
    problem: str
    fix: str = Field(description="What to do so that registering it again succeeds.")


class RegistrationResult(BaseModel):
    """The result of `register_lazy_import` / `unregister_lazy_import`."""

    dry_run: bool
    changes: list[FileChange] = Field(default_factory=list, description="Per-file unified diffs.")
    names: list[NameStatus] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list, description="Names that needed at least one edit.")
    already_present: list[str] = Field(default_factory=list, description="Names that were already fully registered.")
    removed: list[str] = Field(default_factory=list)
    not_registered: list[str] = Field(default_factory=list, description="Names unregister found nowhere.")
    not_placed: list[NotPlaced] = Field(
        default_factory=list,
        description="Names left out whole because some init cannot take them (the others were registered); "
        "each with the init, the reason and the fix.",
    )
    summary: str = ""


class RegistrationFinding(BaseModel):
    """One inconsistency in a tree's registrations."""

    code: str = Field(description="Stable identifier, e.g. `typing-missing`, `dummy-missing`, `unsorted-list`.")
    severity: Literal["error", "warning", "info"] = "error"
    path: str = Field(description="File, relative to the checkout root.")
    line: int | None = Field(default=None, description="1-based line the finding points at.")
    name: str | None = None
    message: str
    fix: str
    auto_fixable: bool = Field(description="Whether `register_lazy_import` (with the name) applies the fix.")
    pre_existing: bool | None = Field(
        default=None,
        description="True when the tree had this finding already where the branch left upstream (the merge-base): "
        "not this change's to fix. None outside git.",
    )


class CheckRegistrationResult(BaseModel):
    """The result of `check_registration`."""

    ok: bool = Field(description="No error-level findings.")
    names_checked: int
    files_checked: int
    total: int = Field(description="All findings, including those left out of `findings`.")
    counts: dict[str, int] = Field(default_factory=dict, description="Findings per code.")
    findings: list[RegistrationFinding] = Field(default_factory=list)
    truncated: bool = Field(default=False, description="True when `findings` holds only the first `max_findings`.")
    summary: str = ""


class RegisterLazyImportRequest(BaseModel):
    """Which names to register, and where they live."""

    symbols: list[SymbolSpec] = Field(
        min_length=1,
        description="The names to register. `module` is dotted (`diffusers.models.transformers.transformer_foo`) "
        "or a path in the tree; `export` (default true) adds the name to the top-level `diffusers` namespace, false "
        "registers it only in its sub-package init.",
    )
    backends: list[str] | None = Field(
        default=None,
        description='Backends for every symbol without its own, e.g. `["torch", "transformers"]`; default: '
        "inferred from where each module lives and what it imports.",
    )
    dry_run: bool = Field(default=False, description="Return the diffs without writing (needs no approved plan).")


class UnregisterLazyImportRequest(BaseModel):
    """Which names to remove."""

    names: list[str] = Field(description="Public names to remove from every init and dummy file.")
    dry_run: bool = Field(default=False, description="Return the diffs without writing (needs no approved plan).")


class CheckRegistrationRequest(BaseModel):
    """Which findings to report."""

    names: list[str] | None = Field(default=None, description="Only findings about these names (default: all).")
    max_findings: int = Field(default=50, ge=1, le=500, description="Cap on findings returned (errors first).")
