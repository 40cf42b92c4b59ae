"""Evals: grade what an integration session did, from its recorded trace.

`score.py` grades one session trace against explicit criteria (asked before writing, approved before writing,
registrations consistent, quality clean, parity proven, planted bugs localised). The demo grades its own run
with it; replayed eval cases grade theirs the same way.
"""

from .score import Criterion, Expectations, Scorecard, render_scorecard, score_trace, scorecard_markdown


__all__ = ["Criterion", "Expectations", "Scorecard", "render_scorecard", "score_trace", "scorecard_markdown"]
