"""Scaffold: every file of a new diffusers integration, in diffusers' conventions, as code that runs.

`scaffold(checkout, ScaffoldRequest(...))` derives the names, renders the model, pipelines, modular package,
tests, docs and conversion script, refuses collisions, writes create-only and registers every public name through
the registry. Import cost: pydantic only; jinja2, torch and diffusers are never imported here.
"""

from .generator import compact_result, scaffold
from .names import ScaffoldNames, derive_names
from .schema import ChecklistItem, ScaffoldedFile, ScaffoldRequest, ScaffoldResult


__all__ = [
    "ChecklistItem",
    "ScaffoldNames",
    "ScaffoldRequest",
    "ScaffoldResult",
    "ScaffoldedFile",
    "compact_result",
    "derive_names",
    "scaffold",
]
