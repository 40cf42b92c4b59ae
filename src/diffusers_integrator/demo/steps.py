"""What the demo records as it goes: its steps, their timings and the facts they produced (the report reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class StepFailed(Exception):
    """A step did not do what the integration needs; the tour stops there and the score says the rest."""


@dataclass
class Step:
    section: str
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class DemoRun:
    """Everything the report needs: the steps with their timings, and the facts they produced."""

    workdir: Path
    tree: Path
    steps: list[Step] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    section: str = ""

    @property
    def failed(self) -> list[Step]:
        return [step for step in self.steps if not step.ok]
