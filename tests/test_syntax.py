"""Parsing from many threads at once, as make_quality and the server's handler pool do."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import diffusers

from diffusers_integrator.syntax import parse, parse_expression


class _Finalised:
    """Garbage whose finaliser runs Python code, so the interpreter can switch threads mid-parse."""

    def __del__(self) -> None:
        sum(range(50))


def _at_depth(depth: int, work):
    return work() if depth == 0 else _at_depth(depth - 1, work)


def test_parses_from_threads_at_different_stack_depths_all_succeed():
    # On CPython 3.11.7 the same load through bare ast.parse fails within a second with
    # "SystemError: AST constructor recursion depth mismatch" (cpython#106905); it did in CI.
    source = diffusers.__path__[0] + "/models/transformers/transformer_flux.py"
    with open(source, encoding="utf-8") as handle:
        text = handle.read()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    def work(thread: int) -> int:
        classes = 0
        for _ in range(15):
            garbage = [_Finalised() for _ in range(100)]
            for item in garbage:
                item.cycle = item
            del garbage
            tree = _at_depth(thread * 3, lambda: parse(text, source))
            classes = sum(1 for node in tree.body if type(node).__name__ == "ClassDef")
        return classes

    try:
        with ThreadPoolExecutor(4) as pool:
            counts = list(pool.map(work, range(8)))
    finally:
        sys.setswitchinterval(interval)
    assert len(set(counts)) == 1 and counts[0] > 0


def test_parse_expression_returns_the_expression_itself():
    node = parse_expression("f(a, b=1)")
    assert type(node).__name__ == "Call"
    assert [kw.arg for kw in node.keywords] == ["b"]
