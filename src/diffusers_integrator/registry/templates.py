"""New package inits, in the form most of upstream's packages use.

A pipeline or modular package gets a lazy init (a `_dummy_objects` dict, `_import_structure` per module under
the backend guard, the TYPE_CHECKING mirror, then `_LazyModule` plus the dummies); a new model family gets a
plain init that imports its modules under `if is_torch_available():`.
"""

from __future__ import annotations

from .backends import guard_condition, package_guard_order
from .edit import LINE_LENGTH, render_entry, render_import_names
from .sorting import ruff_member_key, ruff_module_key


def lazy_package_init(
    depth: int,
    blocks: list[tuple[list[str], str, dict[str, list[str]]]],
    initializer: dict[str, list[str]] | None = None,
) -> str:
    """A lazy init. `blocks`: (backends, dummy module, {module key: names}) per backend guard; `initializer`:
    names that need no guard; `depth` is the number of dots that reach the diffusers package from this init (3
    for `pipelines/<x>/__init__.py`)."""
    dots = "." * depth
    availability = sorted({f"is_{name}_available" for backends, _, _ in blocks for name in backends})
    utils_names = ["DIFFUSERS_SLOW_IMPORT", "OptionalDependencyNotAvailable", "_LazyModule", "get_objects_from_module"]
    utils_names = sorted([*utils_names, *availability], key=ruff_member_key)
    out = ["from typing import TYPE_CHECKING", ""]
    out += render_import_names("", f"{dots}utils", utils_names, True)
    out += ["", "", "_dummy_objects = {}", *initializer_lines(initializer or {}), ""]
    for backends, dummy, modules in blocks:
        condition = guard_condition(package_guard_order(backends))
        out += [
            "try:",
            f"    if {condition}:",
            "        raise OptionalDependencyNotAvailable()",
            "except OptionalDependencyNotAvailable:",
            f"    from {dots}utils import {dummy}  # noqa F403",
            "",
            f"    _dummy_objects.update(get_objects_from_module({dummy}))",
            "else:",
        ]
        for key in sorted(modules):
            out += render_entry("assign", "    ", key, sorted(modules[key], key=ruff_member_key), False)
        out.append("")
    out.append("if TYPE_CHECKING or DIFFUSERS_SLOW_IMPORT:")
    for index, (backends, dummy, modules) in enumerate(blocks):
        if index:
            out.append("")
        condition = guard_condition(package_guard_order(backends))
        out += [
            "    try:",
            f"        if {condition}:",
            "            raise OptionalDependencyNotAvailable()",
            "    except OptionalDependencyNotAvailable:",
            f"        from {dots}utils.{dummy} import *  # noqa F403",
            "    else:",
        ]
        for key in sorted(modules, key=ruff_module_key):
            out += render_entry("import", "        ", key, sorted(modules[key], key=ruff_member_key), False)
    out += [
        "else:",
        "    import sys",
        "",
        "    sys.modules[__name__] = _LazyModule(",
        "        __name__,",
        '        globals()["__file__"],',
        "        _import_structure,",
        "        module_spec=__spec__,",
        "    )",
        "",
        "    for name, value in _dummy_objects.items():",
        "        setattr(sys.modules[__name__], name, value)",
        "",
    ]
    return "\n".join(out)


def plain_family_init(depth: int, modules: dict[str, list[str]]) -> str:
    """A model family's init: plain imports under `if is_torch_available():`."""
    out = [f"from {'.' * depth}utils import is_torch_available", "", "", "if is_torch_available():"]
    for key in sorted(modules, key=ruff_module_key):
        out += render_entry("import", "    ", key, sorted(modules[key], key=ruff_member_key), False)
    return "\n".join(out) + "\n"


def initializer_lines(initial: dict[str, list[str]]) -> list[str]:
    """`_import_structure = {...}` as ruff formats it (names that need no guard, by module key)."""
    if not initial:
        return ["_import_structure = {}"]
    items = [
        f'"{key}": [' + ", ".join(f'"{name}"' for name in sorted(names, key=ruff_member_key)) + "]"
        for key, names in sorted(initial.items())
    ]
    flat = "_import_structure = {" + ", ".join(items) + "}"
    if len(flat) <= LINE_LENGTH:
        return [flat]
    return ["_import_structure = {", *[f"    {item}," for item in items], "}"]
