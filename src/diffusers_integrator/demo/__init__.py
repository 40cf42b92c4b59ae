"""`make demo`: a whole (tiny) integration played through the real server over stdio, scored into a report.

`run` drives it, `script` holds the scripted agent's arguments and the human's replies, `report` writes
`report.md` / `report.json`.
"""

from .run import run_demo


__all__ = ["run_demo"]
