"""`convert_weights`: reference weights converted with JSON rules into `.diffusers-integrator/weights/`."""

from __future__ import annotations

from ...parity.convert_weights_schema import ConvertWeightsRequest as ConversionRequest
from ...parity.convert_weights_schema import ConvertWeightsResult
from ...progress import ProgressFn
from ..jobs import DEFAULT_WAIT_S, JobResult, WaitSeconds
from ..session import IntegratorSession
from ..spec import ToolSpec


class ConvertWeightsRequest(ConversionRequest):
    """The conversion, plus how long to wait before handing back a job id."""

    wait_s: WaitSeconds = DEFAULT_WAIT_S


def convert_weights(
    session: IntegratorSession, request: ConvertWeightsRequest, progress: ProgressFn
) -> JobResult[ConvertWeightsResult]:
    from ...parity.convert_weights import convert_weights as convert

    checkout = session.checkout()
    conversion = ConversionRequest.model_validate(request.model_dump(exclude={"wait_s"}))
    return session.jobs.run(
        "convert_weights",
        lambda report: convert(checkout, conversion, report),
        wait_s=request.wait_s,
        progress=progress,
        result_model=ConvertWeightsResult,
    )


SPEC = ToolSpec(
    "convert_weights",
    "Convert reference weights",
    ConvertWeightsRequest,
    JobResult[ConvertWeightsResult],
    convert_weights,
    # Writes only converted weights under .diffusers-integrator/weights/ (never shipped): no approval gate.
    "session",
)
