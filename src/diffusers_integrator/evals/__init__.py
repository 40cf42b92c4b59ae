"""Evals: recorded integrations replayed through the real server and scored on what they leave in the tree.

Built on Inspect AI (`task.py`: the task, `replay.py`: recorded turns through `mockllm`, `scorers.py`), with
the cases in the project's `evals/cases/` (`cases.py`) and the checks in `checks.py`, which read the tree and
the session trace. `score.py` grades a trace alone (the demo's scorecard, `sessions score`). Importing this
package does not import Inspect AI: the task modules do, when an eval runs.
"""

from .score import Criterion, Expectations, Scorecard, render_scorecard, score_trace, scorecard_markdown


__all__ = ["Criterion", "Expectations", "Scorecard", "render_scorecard", "score_trace", "scorecard_markdown"]
