"""The package's shape, enforced: floors that import only downwards, no import circle, one file per tool.

Read `FLOORS` as the architecture drawing in docs/architecture.md: the core (floors 0–4) works on a checkout and
knows nothing of MCP, the CLI, evals, the demo or the test fixtures; the edges above it only translate. Every
import counts, function-local and TYPE_CHECKING ones included, so a circle cannot hide behind a late import.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from diffusers_integrator.server import tool_specs


REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "diffusers_integrator"

# room (a top-level module or sub-package of diffusers_integrator) -> floor. A room imports only rooms on lower
# floors; the package root (`__version__`) is floor 0.
FLOORS: dict[str, int] = {
    "": 0,
    "errors": 0,
    "progress": 0,
    "syntax": 0,
    "data": 1,
    "redact": 1,
    "checkout": 2,
    "registry": 3,
    "interact": 3,
    "skills": 3,
    "traces": 3,
    "parity": 3,
    "quality": 4,
    "scaffold": 4,
    "testing": 5,
    "evals": 6,
    "server": 6,
    "demo": 7,
    "agents": 7,
    "cli": 8,
}
CORE_TOP_FLOOR = 4
# Third-party packages only the edges may import.
EDGE_ONLY_LIBRARIES = ("mcp", "mcp_types", "anthropic", "inspect_ai")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(modules of this package, third-party top-level names) that `module` imports anywhere in its body."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    ours: set[str] = set()
    libraries: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("diffusers_integrator"):
                target = node.module.removeprefix("diffusers_integrator").lstrip(".")
            else:
                libraries.add((node.module or "").split(".")[0])
                continue
            submodules = {f"{target}.{alias.name}".lstrip(".") for alias in node.names} & MODULES.keys()
            ours |= submodules or {target}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("diffusers_integrator"):
                    ours.add(alias.name.removeprefix("diffusers_integrator").lstrip("."))
                else:
                    libraries.add(alias.name.split(".")[0])
    return ours, libraries


def _room(module: str) -> str:
    return module.split(".")[0]


def test_every_room_has_a_floor() -> None:
    rooms = {_room(module) for module in MODULES}
    assert rooms == FLOORS.keys(), f"give these rooms a floor in FLOORS (and the drawing): {rooms ^ FLOORS.keys()}"


def test_imports_only_run_down_a_floor() -> None:
    upward = []
    for module in MODULES:
        ours, _ = _imports(module)
        for target in ours:
            here, there = _room(module), _room(target)
            if here != there and FLOORS[there] >= FLOORS[here]:
                upward.append(f"{module} (floor {FLOORS[here]}) imports {target} (floor {FLOORS[there]})")
    assert not upward, "\n".join(sorted(upward))


def test_the_core_never_imports_the_edges_or_mcp() -> None:
    offending = []
    for module in MODULES:
        if FLOORS[_room(module)] > CORE_TOP_FLOOR:
            continue
        ours, libraries = _imports(module)
        edges = sorted(target for target in ours if FLOORS[_room(target)] > CORE_TOP_FLOOR)
        foreign = sorted(libraries & set(EDGE_ONLY_LIBRARIES))
        if edges or foreign:
            offending.append(f"{module}: {', '.join(edges + foreign)}")
    assert not offending, "\n".join(offending)


def test_no_import_circle() -> None:
    graph = {module: _imports(module)[0] & MODULES.keys() for module in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert not circles, circles


@pytest.mark.parametrize("name", [spec.name for spec in tool_specs()])
def test_a_tool_is_one_description_one_module_and_one_test_file(name: str) -> None:
    expected = [
        REPO / "tools" / f"{name}.md",
        PACKAGE / "server" / "tools" / f"{name}.py",
        REPO / "tests" / "server" / "tools" / f"test_{name}.py",
    ]
    missing = [str(path.relative_to(REPO)) for path in expected if not path.is_file()]
    assert not missing, f"tool {name} lacks {missing}"
    module = __import__(f"diffusers_integrator.server.tools.{name}", fromlist=["SPEC"])
    assert module.SPEC.name == name


# A path of somebody's machine: a Path built from an absolute literal (`Path("/opt/...")`, `Path("C:\\...")`), or
# a folder of this team's development machines. Fixtures make trees under tmp_path; clones come from env vars.
MACHINE_PATH = re.compile(r"""Path\(\s*r?["'](?:/|[A-Za-z]:\\)|["']/work/""")


def test_no_test_names_a_path_of_one_machine() -> None:
    found = defaultdict(list)
    for path in (REPO / "tests").rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if MACHINE_PATH.search(line) and path != Path(__file__):
                found[str(path.relative_to(REPO))].append(number)
    assert not found, dict(found)
