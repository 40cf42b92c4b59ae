"""Parsing Python source safely from many threads at once.

CPython before 3.11.8 and 3.12.1 keeps the AST builder's recursion counter in state shared by every thread
(python/cpython#106905). Two threads that parse at once can corrupt it, and `ast.parse` then fails with
"SystemError: AST constructor recursion depth mismatch". Our tools parse in worker threads (make_quality runs its
checks side by side, the server runs handlers in a thread pool), so every parse in the package goes through the
one lock here.
"""

from __future__ import annotations

import ast
import threading


_PARSE_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse` of a whole file, one thread at a time."""
    with _PARSE_LOCK:
        return ast.parse(source, filename=filename)  # noqa: TID251


def parse_expression(source: str) -> ast.expr:
    """One expression's tree (`mode="eval"`), one thread at a time."""
    with _PARSE_LOCK:
        return ast.parse(source, mode="eval").body  # noqa: TID251
