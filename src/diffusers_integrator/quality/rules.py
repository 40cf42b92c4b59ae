"""diffusers' review rules that no linter checks: the ones reviewers keep writing in PR comments.

Model code (files under `models/`, and `modeling_*.py` next to pipelines): no einops (diffusers does not
depend on it), no unconditional float64 (MPS and NPU lack it, and a model must follow its input dtype; a float64
chosen only off those devices, or on the CPU, is upstream's own pattern for RoPE tables), no
`torch.empty` for parameter init (uninitialised memory when weights are not loaded). Only lines added since the
merge-base count, so existing upstream code is never blamed on the change, and a full run and a scoped run agree.

Pipeline code: every pipeline `__call__` is decorated with `@torch.no_grad()` (ONNX pipelines excepted: no torch).
"""

from __future__ import annotations

import ast
import re

from ..checkout import Checkout
from ..syntax import parse
from .models import Finding
from .scope import Scope


_FLOAT64_NAMES = {"float64", "double"}
_PARAMETER_CALLS = {"Parameter", "nn.Parameter", "torch.nn.Parameter"}
_EMPTY_CALLS = {"torch.empty", "empty"}
_NO_GRAD = {"torch.no_grad()", "no_grad()"}


def is_model_file(checkout: Checkout, path: str) -> bool:
    package = checkout.package_rel + "/"
    if not path.startswith(package) or not path.endswith(".py"):
        return False
    inner = path[len(package) :]
    return inner.startswith("models/") or (
        inner.startswith("pipelines/") and inner.rsplit("/", 1)[-1].startswith("modeling_")
    )


def is_pipeline_file(checkout: Checkout, path: str) -> bool:
    inner = path[len(checkout.package_rel) + 1 :]
    return (
        path.startswith(checkout.package_rel + "/pipelines/")
        and inner.rsplit("/", 1)[-1].startswith("pipeline_")
        and path.endswith(".py")
    )


def model_files(checkout: Checkout, scope: Scope) -> list[str]:
    """Model files in scope that have new lines (all of them outside git)."""
    if scope.is_git:
        candidates = list(scope.new_lines)
    elif scope.kind == "all":
        candidates = [checkout.rel(p) for p in (checkout.package_dir / "models").rglob("*.py")]
        candidates += [checkout.rel(p) for p in (checkout.package_dir / "pipelines").rglob("modeling_*.py")]
    else:
        candidates = scope.files
    return sorted(p for p in candidates if scope.includes(p) and is_model_file(checkout, p))


def check_model_code(checkout: Checkout, scope: Scope) -> tuple[list[Finding], int]:
    findings: list[Finding] = []
    files = [p for p in model_files(checkout, scope) if (checkout.root / p).is_file()]
    for path in files:
        try:
            tree = parse(checkout.read_text(path))
        except SyntaxError:
            continue  # ruff-check reports it
        for line, col, code, message in _model_violations(tree):
            if scope.is_new(path, line):
                findings.append(
                    Finding(
                        check="model-code", path=path, line=line, col=col, code=code, message=message, fixable=False
                    )
                )
    return findings, len(files)


def _model_violations(tree: ast.AST) -> list[tuple[int, int, str, str]]:
    out: list[tuple[int, int, str, str]] = []
    device_aware = _device_aware_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in device_aware:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "einops":
                    out.append((node.lineno, node.col_offset + 1, "einops", _EINOPS))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "einops":
            out.append((node.lineno, node.col_offset + 1, "einops", _EINOPS))
        elif isinstance(node, ast.Attribute) and node.attr in _FLOAT64_NAMES:
            parent = ast.unparse(node.value)
            if parent in ("torch", "np", "numpy"):
                out.append((node.lineno, node.col_offset + 1, "float64", f"`{parent}.{node.attr}`: {_FLOAT64}"))
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if isinstance(node.func, ast.Attribute) and node.func.attr == "double" and not node.args:
                out.append((node.lineno, node.col_offset + 1, "float64", f"`.double()`: {_FLOAT64}"))
            elif name in _PARAMETER_CALLS:
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call) and ast.unparse(inner.func) in _EMPTY_CALLS:
                        out.append((inner.lineno, inner.col_offset + 1, "torch-empty-init", _EMPTY))
        elif isinstance(node, ast.Constant) and node.value == "float64":
            out.append((node.lineno, node.col_offset + 1, "float64", f'`"float64"`: {_FLOAT64}'))
    return out


# Devices without float64: a float64 chosen only off them is upstream's accepted pattern for precise RoPE tables.
_NO_FLOAT64_DEVICE = re.compile(r"\b(?:is_)?(?:mps|npu)\b")
_DOWNCAST_HELPERS = {"maybe_adjust_dtype_for_device"}


def _device_aware_nodes(tree: ast.AST) -> set[int]:
    """Ids of the nodes whose float64 upstream accepts: chosen conditionally on a device that lacks it.

    * `torch.float32 if torch.backends.mps.is_available() else torch.float64` (Wan, Lumina2), `if is_mps or
      is_npu:` branches: an `if` whose test names MPS or NPU;
    * `maybe_adjust_dtype_for_device(torch.float64, ids.device)` (Flux): upstream's helper downcasts where the
      device lacks float64;
    * `with torch.device("cpu"):` (Z-Image) and `device="cpu"` arguments: the tensor lives on the CPU, which has it.
    """
    excused: set[int] = set()

    def excuse(*nodes: ast.AST) -> None:
        for node in nodes:
            excused.update(id(inner) for inner in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.IfExp, ast.If)) and _NO_FLOAT64_DEVICE.search(ast.unparse(node.test)):
            branches = [node.body, node.orelse] if isinstance(node, ast.IfExp) else [*node.body, *node.orelse]
            excuse(*branches)
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func).rsplit(".", 1)[-1]
            if name in _DOWNCAST_HELPERS or any(
                keyword.arg == "device" and _is_cpu(keyword.value) for keyword in node.keywords
            ):
                excuse(*node.args, *node.keywords)
        elif isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and ast.unparse(item.context_expr.func) in ("torch.device", "device")
            and item.context_expr.args
            and _is_cpu(item.context_expr.args[0])
            for item in node.items
        ):
            excuse(*node.body)
    return excused


def _is_cpu(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value == "cpu"


_EINOPS = "einops is not a diffusers dependency: use reshape/permute/flatten/unflatten instead"
_FLOAT64 = "no float64 in model code (MPS and some accelerators lack it); compute in float32 or the input's dtype"
_EMPTY = "parameter initialised from `torch.empty` (uninitialised memory): use torch.zeros/ones/randn or an init"


def pipeline_files(checkout: Checkout, scope: Scope) -> list[str]:
    if scope.kind == "all":
        candidates = [checkout.rel(p) for p in (checkout.package_dir / "pipelines").rglob("pipeline_*.py")]
    else:
        candidates = scope.files
    return sorted(p for p in candidates if is_pipeline_file(checkout, p))


_CALL = re.compile(r"^\s*def __call__\(", re.M)


def check_pipeline_code(checkout: Checkout, scope: Scope) -> tuple[list[Finding], int]:
    findings: list[Finding] = []
    files = pipeline_files(checkout, scope)
    for path in files:
        text = checkout.read_text(path)
        # Cheap text test first: parsing every pipeline of the tree would dominate a full run.
        calls = [m.start() for m in _CALL.finditer(text)]
        if all(_decorated_in_text(text, start) for start in calls):
            continue
        try:
            tree = parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or not _is_pipeline_class(node):
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__call__":
                    if not any(ast.unparse(d) in _NO_GRAD for d in item.decorator_list):
                        findings.append(
                            Finding(
                                check="pipeline-code",
                                path=path,
                                line=item.lineno,
                                col=item.col_offset + 1,
                                code="missing-no-grad",
                                message=f"{node.name}.__call__ needs `@torch.no_grad()` (inference must not build a graph)",
                                fixable=False,
                            )
                        )
    return findings, len(files)


def _decorated_in_text(text: str, start: int) -> bool:
    before = text[:start].rstrip().rsplit("\n", 3)
    return any("no_grad()" in line for line in before[-3:])


def _is_pipeline_class(node: ast.ClassDef) -> bool:
    bases = [ast.unparse(base).split(".")[-1] for base in node.bases]
    if node.name.startswith("Onnx") or any(base.startswith("Onnx") for base in bases):
        return False
    return any(base.endswith("Pipeline") for base in bases)


_TOP_LEVEL = re.compile(r"^(?:class|def)\s+(\w+)|^([A-Z_][A-Z0-9_]*)\s*=", re.M)


def top_level_names(text: str) -> set[str]:
    """Classes, functions and constants a module defines at top level (cheap: no parsing)."""
    return {next(g for g in match.groups() if g) for match in _TOP_LEVEL.finditer(text)}
