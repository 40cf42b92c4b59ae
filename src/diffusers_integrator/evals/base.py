"""The tree a case's session starts from: the installed package or the upstream clone, optionally stripped.

Two trees come out: the session's tree (a git checkout whose HEAD is the starting point, so the change is what
the session did) and the unstripped base it was made from (what upstream wrote, for `content_from_base` turns
and `same_as_base` expectations). The base is built once per process and source and shared, read-only, by every
case: unpacking and committing a clone costs seconds of CPU that a suite of cases would otherwise pay per case.
"""

from __future__ import annotations

import ast
import atexit
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from pathlib import Path

from ..checkout import Checkout
from ..errors import IntegratorError
from ..syntax import parse
from ..testing.trees import build_tree, copy_tree, run_git
from .cases import EvalCase


def prepare_trees(case: EvalCase, workdir: Path) -> tuple[Path, Path]:
    """(the session's tree under `workdir`, the shared unstripped base it was copied from)."""
    base = shared_base(case.base.source)
    tree = copy_tree(base, workdir / "session" / "diffusers")
    if case.base.strip:
        strip(Checkout.find(tree), case.base.strip)
        run_git(tree, "add", "-A")
        run_git(tree, "commit", "-q", "-m", f"strip {case.id}")
    return tree, base


_BASES: dict[str, Path] = {}
_BASES_LOCK = threading.Lock()


def shared_base(source: str) -> Path:
    """The committed base tree for `source` ("installed" or "clone"), built on first use; never write in it."""
    with _BASES_LOCK:
        if source not in _BASES:
            folder = Path(tempfile.mkdtemp(prefix=f"diffusers-integrator-base-{source}-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            base = folder / "diffusers"
            if source == "installed":
                build_tree(base)
            else:
                unpack_clone(base)
            _BASES[source] = base
        return _BASES[source]


def unpack_clone(dest: Path) -> None:
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
    """Removes files, unregistering first the public names a removed module of the package defines.

    A path may be a folder (a pipeline or modular package, a test folder): every file under it goes, its own
    `__init__.py` included, and the names its modules define are unregistered from the inits above it.
    """
    from ..registry import unregister_names

    files = stripped_files(checkout.root, paths)
    for rel in files:
        checkout.resolve(rel)  # confined to the tree, or refused before anything changes
    names = stripped_names(checkout.root, files)
    if names:
        unregister_names(checkout, list(names))
    checkout.write_files(dict.fromkeys(files))
    for rel in paths:  # a stripped package leaves no empty folder behind (git keeps none either)
        top = checkout.resolve(rel)
        if top.is_dir():
            for folder in sorted([top, *(p for p in top.rglob("*") if p.is_dir())], key=lambda p: -len(p.parts)):
                if not any(folder.iterdir()):
                    folder.rmdir()


def stripped_files(root: Path, paths: list[str]) -> list[str]:
    """The files `strip` removes for `paths` (folders expanded), relative to the tree's root."""
    files: list[str] = []
    for rel in paths:
        path = root / rel
        if not path.exists():
            raise IntegratorError(f"strip: {rel} is not in the base tree.", "Fix the case's `base.strip` list.")
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        files += [found_path.relative_to(root).as_posix() for found_path in found]
    return files


def stripped_names(root: Path, files: list[str]) -> dict[str, str]:
    """Public name -> the removed module (relative to the root) that defines it, for every name an init that
    stays registers (the top-level `_import_structure`, or a package init above a removed package)."""
    package = Checkout.find(root).package_dir
    gone = {root / rel for rel in files}
    inits = [package / "__init__.py"] + sorted(p for p in package.rglob("__init__.py") if p not in gone)
    registered = "\n".join(init.read_text(encoding="utf-8") for init in dict.fromkeys(inits))
    names: dict[str, str] = {}
    for rel in files:
        path = root / rel
        if path.suffix == ".py" and path.name != "__init__.py" and path.is_relative_to(package):
            for name in _public_names(path):
                if f'"{name}"' in registered:
                    names.setdefault(name, rel)
    return names


def _public_names(path: Path) -> list[str]:
    tree = parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and not node.name.startswith("_")
    ]
