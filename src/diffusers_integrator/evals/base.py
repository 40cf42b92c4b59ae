"""The tree a case's session starts from: the installed package or the upstream clone, optionally stripped.

Two trees come out: the session's tree (a git checkout whose HEAD is the starting point, so the change is what
the session did) and the unstripped base it was made from (what upstream wrote, for `content_from_base` turns
and `same_as_base` expectations).
"""

from __future__ import annotations

import ast
import io
import os
import subprocess
import tarfile
from pathlib import Path

from ..checkout import Checkout
from ..errors import IntegratorError
from ..testing.trees import build_tree, copy_tree, run_git
from .cases import EvalCase


def prepare_trees(case: EvalCase, workdir: Path) -> tuple[Path, Path]:
    """(the session's tree, the unstripped base), both under `workdir`."""
    base = workdir / "base" / "diffusers"
    if case.base.source == "installed":
        build_tree(base)
    else:
        _unpack_clone(base)
    tree = copy_tree(base, workdir / "session" / "diffusers")
    if case.base.strip:
        strip(Checkout.find(tree), case.base.strip)
        run_git(tree, "add", "-A")
        run_git(tree, "commit", "-q", "-m", f"strip {case.id}")
    return tree, base


def _unpack_clone(dest: Path) -> None:
    clone = os.environ.get("DIFFUSERS_CLONE")
    if not clone or not (Path(clone) / ".git").exists():
        raise IntegratorError(
            "This case starts from upstream's clone, and DIFFUSERS_CLONE does not name one.",
            "Set DIFFUSERS_CLONE to a diffusers git clone (`source .ci/diffusers-clone.sh` makes one).",
        )
    archive = subprocess.run(["git", "-C", clone, "archive", "--format=tar", "HEAD"], capture_output=True, check=True)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    run_git(dest, "init", "-q", "-b", "main")
    run_git(dest, "add", "-A")
    run_git(dest, "commit", "-q", "-m", "upstream diffusers")


def strip(checkout: Checkout, paths: list[str]) -> None:
    """Removes files, unregistering first the public names a removed module of the package defines."""
    from ..registry import unregister_names

    names: list[str] = []
    for rel in paths:
        path = checkout.resolve(rel)
        if not path.exists():
            raise IntegratorError(f"strip: {rel} is not in the base tree.", "Fix the case's `base.strip` list.")
        if path.suffix == ".py" and path.is_relative_to(checkout.package_dir):
            names += [name for name in _public_names(path) if _exported(checkout, name)]
    if names:
        unregister_names(checkout, names)
    checkout.write_files({rel: None for rel in paths if checkout.resolve(rel).is_file()})


def _public_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and not node.name.startswith("_")
    ]


def _exported(checkout: Checkout, name: str) -> bool:
    return f'"{name}"' in (checkout.package_dir / "__init__.py").read_text(encoding="utf-8")
