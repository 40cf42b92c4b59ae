"""`confirm_plan`: the integration plan as a model, shown to the human, who accepts, declines or amends it.

An approved plan is exactly the plan the human saw: it is stored by id with the digest of its canonical
JSON, and an amendment never edits it in place — the agent revises the plan and confirms the new one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, create_model, model_validator

from .forms import HumanForm
from .questions import MAX_NOTE, FormOutcome


Verdict = Literal["accept", "decline", "amend"]
PlanStatus = Literal["approved", "declined", "amend_requested", "awaiting_verdict", "superseded"]
PLAN_RESOURCE = "plan://current"


class PlanComponent(BaseModel):
    """A class the integration adds, or an existing diffusers class it reuses."""

    name: str = Field(min_length=1, description="Class name, e.g. `CosmosTransformer3DModel` or `AutoencoderKLWan`.")
    kind: Literal["model", "pipeline", "scheduler", "modular_blocks", "conversion_script", "other"] = Field(
        description="What sort of component it is."
    )
    action: Literal["add", "reuse"] = Field(description="`add` a new class, or `reuse` one diffusers already has.")
    note: str = Field(default="", description="Why, or what it is based on (e.g. `# Copied from` source).")


class ParityCriterion(BaseModel):
    """One numerical check that proves the port matches the reference."""

    target: str = Field(
        min_length=1, description="What is compared, e.g. `transformer forward` or `t2v pipeline, 2 steps`."
    )
    metric: Literal["max_abs_diff", "mean_abs_diff", "max_rel_diff", "cosine"] = Field(
        description="The measure; diffs must stay at or below `threshold`, cosine at or above it."
    )
    threshold: float = Field(description="The tolerance, e.g. 1e-3 for max_abs_diff in fp32 on CPU, 0.999 for cosine.")
    device: Literal["cpu", "cuda", "any"] = Field(default="cpu", description="Where the check runs.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(default="float32", description="Precision of the run.")

    @property
    def rule(self) -> str:
        comparison = ">=" if self.metric == "cosine" else "<="
        return f"{self.metric} {comparison} {self.threshold:g} ({self.device}, {self.dtype})"


class IntegrationPlan(BaseModel):
    """What will be integrated and how: the arguments of `confirm_plan`."""

    model_name: str = Field(min_length=1, max_length=100, description="The model's name, e.g. `Cosmos Predict 2.5`.")
    reference_repo: str = Field(min_length=1, description="URL or local path of the reference implementation.")
    reference_script: str = Field(min_length=1, description="The reference inference script, relative to that repo.")
    workflows: list[str] = Field(
        min_length=1, description="Workflows to integrate, in the order they will be done, e.g. `text-to-video`."
    )
    pipeline_style: Literal["modular", "standard", "both"] = Field(
        description="Modular pipeline blocks, a standard `DiffusionPipeline`, or both."
    )
    components: list[PlanComponent] = Field(min_length=1, description="Components to add or reuse.")
    files: list[str] = Field(min_length=1, description="Files to create or modify, relative to the checkout root.")
    parity: list[ParityCriterion] = Field(min_length=1, description="Parity checks and their tolerances.")
    notes: str = Field(default="", max_length=4000, description="Open points, risks, anything the human should know.")

    @model_validator(mode="after")
    def _no_repeats(self) -> IntegrationPlan:
        for name, values in (("workflows", self.workflows), ("files", self.files)):
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists an entry twice; list each once")
        return self

    def digest(self) -> str:
        """Identifies exactly this plan: sha256 of its canonical JSON (first 16 hex digits)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def markdown(self, plan_id: str | None = None, digest: str | None = None) -> str:
        """The plan as the human reads it (the form message, and the text to show in chat)."""
        title = f"Integration plan {plan_id}: {self.model_name}" if plan_id else f"Integration plan: {self.model_name}"
        lines = [
            f"## {title}",
            *([f"Plan digest: {digest} (what your verdict approves, exactly)"] if digest else []),
            f"Reference: {self.reference_repo} — script `{self.reference_script}`",
            f"Pipeline style: {self.pipeline_style}",
            "Workflows, in order: " + " → ".join(self.workflows),
            "Components:",
            *(f"- {c.action} {c.kind} `{c.name}`" + (f" — {c.note}" if c.note else "") for c in self.components),
            "Files to touch:",
            *(f"- {path}" for path in self.files),
            "Parity:",
            *(f"- {criterion.target}: {criterion.rule}" for criterion in self.parity),
        ]
        if self.notes:
            lines += ["Notes:", self.notes]
        return "\n".join(lines)


_DECISIONS: list[tuple[Verdict, str]] = [
    ("accept", "Accept — write the code following this plan"),
    ("amend", "Amend — the plan needs changes (say which in the note)"),
    ("decline", "Decline — do not proceed with this plan"),
]


def plan_form(plan: IntegrationPlan) -> HumanForm:
    """The approval form: the plan as the message, a required decision, and a note."""
    decision_schema = {
        "type": "string",
        "title": "Your decision",
        "oneOf": [{"const": value, "title": title} for value, title in _DECISIONS],
    }
    note_schema = {"type": "string", "title": "Note (what to change, or why)", "maxLength": MAX_NOTE}
    schema = create_model(
        "PlanDecision",
        decision=(Annotated[Verdict, WithJsonSchema(decision_schema)], ...),
        note=(Annotated[str | None, Field(max_length=MAX_NOTE), WithJsonSchema(note_schema)], None),
    )
    return HumanForm(message=plan.markdown(digest=plan.digest()), schema=schema)


class ConfirmPlanResult(BaseModel):
    """What `confirm_plan` returns."""

    plan_id: str = Field(description="Identifies this plan; `record_answer` takes it when the verdict came in chat.")
    plan_digest: str = Field(description="sha256 prefix of the plan's canonical JSON: what exactly was approved.")
    form: FormOutcome = Field(
        description="answered: the human gave a verdict in the form; declined / cancelled: closed without one; "
        "not_shown: this client cannot show forms."
    )
    via: Literal["elicitation"] | None = None
    verdict: Verdict | None = Field(default=None, description="The human's verdict, when they gave one.")
    note: str | None = Field(default=None, description="The human's note (what to change, or why).")
    plan_status: PlanStatus
    may_write: bool = Field(description="Whether write tools are allowed now.")
    plan_markdown: str | None = Field(
        default=None, description="When awaiting a verdict: show this text to the human verbatim."
    )
    next_step: str

    def trace_interaction(self) -> dict[str, Any]:
        return {
            "kind": "approval",
            "plan_id": self.plan_id,
            "plan_digest": self.plan_digest,
            "form": self.form,
            "via": self.via,
            "verdict": self.verdict,
            "note": self.note,
            "plan_status": self.plan_status,
        }


def verdict_next_step(plan_id: str, verdict: Verdict, note: str | None, revoked: str | None = None) -> str:
    """What to do after a verdict; it says exactly what `may_write` says (the newest verdict governs)."""
    if verdict == "accept":
        extra = f" Follow the human's note: {note}" if note else ""
        return f"{plan_id} is approved; write tools are allowed now. Read it back any time at {PLAN_RESOURCE}.{extra}"
    lapsed = f" The approval of {revoked} no longer holds: the newest verdict governs." if revoked else ""
    if verdict == "amend":
        return (
            f"The human wants changes to {plan_id}: {note or '(no note: ask them what to change)'}. Nothing is "
            f"approved now and write tools stay locked.{lapsed} Revise the plan accordingly and call confirm_plan "
            "again."
        )
    return (
        f"The human declined {plan_id}" + (f": {note}" if note else "") + ". Nothing is approved now and write "
        f"tools stay locked.{lapsed} Ask the human how they want to proceed before proposing another plan."
    )
