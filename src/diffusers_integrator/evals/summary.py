"""What an eval run comes to: per case, each check's verdict and explanation, against what the case expects."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CaseScore(BaseModel):
    case: str
    kind: str
    verdicts: dict[str, bool]
    explanations: dict[str, str]
    expected_failures: list[str]

    @property
    def as_expected(self) -> bool:
        failed = sorted(check for check, passed in self.verdicts.items() if not passed)
        return failed == sorted(self.expected_failures)


class EvalSummary(BaseModel):
    log: str
    cases: list[CaseScore]
    pass_rates: dict[str, float]
    trees: dict[str, str] = Field(default_factory=dict, description="case -> the tree its session left")

    @property
    def as_expected(self) -> bool:
        return bool(self.cases) and all(case.as_expected for case in self.cases)
