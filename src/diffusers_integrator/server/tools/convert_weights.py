"""`convert_weights`: reference weights converted with JSON rules into `.diffusers-integrator/weights/`."""

from __future__ import annotations

from collections.abc import Callable

from ...parity.convert_weights_schema import ConvertWeightsRequest as ConversionRequest
from ...parity.convert_weights_schema import ConvertWeightsResult
from ...progress import ProgressFn
from ..jobs import with_wait, without_wait
from ..session import IntegratorSession
from ..spec import ToolSpec


ConvertWeightsRequest = with_wait(ConversionRequest, "ConvertWeightsRequest")


def convert_weights(
    session: IntegratorSession, request: ConvertWeightsRequest, progress: ProgressFn
) -> Callable[[ProgressFn], ConvertWeightsResult]:
    from ...parity.convert_weights import convert_weights

    checkout, conversion = session.checkout(), without_wait(request, ConversionRequest)
    return lambda report: convert_weights(checkout, conversion, report)


# Writes only converted weights under .diffusers-integrator/weights/ (never shipped): no approval gate, but
# --read-only hides it.
SPEC = ToolSpec.of(convert_weights, "Convert reference weights", "state", background=True)
