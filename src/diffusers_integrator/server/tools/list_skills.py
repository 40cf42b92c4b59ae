"""`list_skills`: the shipped skills, for clients that have neither prompts nor resources."""

from __future__ import annotations

from pydantic import BaseModel

from ...progress import ProgressFn
from ...skills import ListSkillsResult
from ...skills import list_skills as shipped_skills
from ..session import IntegratorSession
from ..spec import ToolSpec


class ListSkillsRequest(BaseModel):
    """No arguments."""


def list_skills(session: IntegratorSession, request: ListSkillsRequest, progress: ProgressFn) -> ListSkillsResult:
    return shipped_skills()


SPEC = ToolSpec.of(list_skills, "List the skills", "read")
