"""The planted-bug catalogue: every bug detected and blamed on the right module; clean ports pass.

`benchmarks/parity_mutations.py` prints the same measurement as a table.
"""

import pytest

from diffusers_integrator.testing.mutations import all_cases, evaluate


CASES = all_cases()


def test_catalogue_covers_the_pitfalls():
    pitfalls = {c.name.split("/", 1)[1] for c in CASES if not c.clean}
    assert len(pitfalls) >= 12
    assert {c.family for c in CASES} == {"research", "flux", "wan"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case):
    result = evaluate(case)
    if case.clean:
        assert not result.detected, result
    else:
        assert result.detected, result
        assert result.localized, f"{case.name}: blamed {result.culprit!r}, expected one of {sorted(case.expected)}"
