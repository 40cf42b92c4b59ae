"""`get_skill`: one file of a shipped skill, the channel every client has."""

from __future__ import annotations

from ...progress import ProgressFn
from ...skills import GetSkillRequest, GetSkillResult, read_skill_file
from ..session import IntegratorSession
from ..spec import ToolSpec


def get_skill(session: IntegratorSession, request: GetSkillRequest, progress: ProgressFn) -> GetSkillResult:
    return read_skill_file(request.name, request.path)


SPEC = ToolSpec.of(get_skill, "Read a skill file", "read")
