"""The two orders diffusers keeps its registration lists in.

* `_import_structure` name lists of the top-level init are ordered by upstream's `utils/custom_init_isort.py`:
  constants (all caps), then classes, then functions; inside a group by the lowercased name with underscores
  dropped, compared as plain strings.
* Every `from .x import (...)` member list, and the order of consecutive `from .x import` statements, is ruff's
  isort order: the same three groups, compared case-insensitively with natural ordering of digit runs
  (`Flux2` < `Flux10`, `LTX2Model` < `LTX25Model`), underscores kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence


_DIGITS = re.compile(r"(\d+)")


def _natural(text: str) -> tuple:
    # Digit runs compare as numbers. In identifiers a digit sorts below letters and `_`; ending a text chunk
    # early (a shorter prefix) reproduces exactly that, so chunks of both kinds line up.
    parts = []
    for chunk in _DIGITS.split(text):
        if not chunk:
            continue
        parts.append((0, int(chunk), chunk) if chunk.isdigit() else (1, chunk))
    return tuple(parts)


def _member_type(name: str) -> int:
    if len(name) > 1 and name.isupper():
        return 0
    if name[:1].isupper():
        return 1
    return 2


def ruff_member_key(name: str) -> tuple:
    """ruff isort's key for a name inside `from x import (...)` (order-by-type, case-insensitive, natural)."""
    return (_member_type(name), _natural(name.lower()), _natural(name))


def ruff_module_key(module: str) -> tuple:
    """ruff isort's key for the order of `from .<module> import` statements of one import block."""
    return (_natural(module.lower()), _natural(module))


def init_isort_key(name: str) -> tuple:
    """upstream `custom_init_isort.py`'s key for `_import_structure` lists of the top-level init."""
    group = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return (group, name.lower().replace("_", ""))


def first_unsorted(items: Sequence[str], key: Callable[[str], tuple | str]) -> int | None:
    """Index of the first item that sorts before its predecessor, or None when the list is sorted."""
    keys = [key(item) for item in items]
    for index in range(1, len(keys)):
        if keys[index] < keys[index - 1]:
            return index
    return None


def insert_sorted(items: list[str], new: str, key: Callable[[str], tuple | str]) -> list[str]:
    """Inserts `new` before the first item that sorts after it (the place a sorter would give it)."""
    new_key = key(new)
    for index, item in enumerate(items):
        if key(item) > new_key:
            return [*items[:index], new, *items[index:]]
    return [*items, new]
