"""`record_answer`: an answer or plan verdict the human gave in chat, when no form could be shown."""

from __future__ import annotations

from ...interact.answers import RecordAnswerRequest, RecordAnswerResult
from ...interact.answers import record_answer as apply_answer
from ...progress import ProgressFn
from ..session import IntegratorSession
from ..spec import ToolSpec


def record_answer(
    session: IntegratorSession, request: RecordAnswerRequest, progress: ProgressFn
) -> RecordAnswerResult:
    return apply_answer(session.approvals, request)


SPEC = ToolSpec.of(record_answer, "Record an answer given in chat", "session", idempotent=False)
