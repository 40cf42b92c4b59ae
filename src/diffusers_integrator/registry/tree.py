"""Where the registry reads a diffusers package from: a checkout on disk, or texts in memory.

The planning code (register, unregister, check) only reads texts through a `SourceTree` and returns new
texts, so the strip-and-restore proof can run hundreds of cases on in-memory copies while tools write through
`Checkout` (confined, atomic, dry-run diffs).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from ..checkout import Checkout
from ..errors import CheckoutError
from .model import ParsedInit, parse_init


_WORD = re.compile(r"\w+")


class SourceTree(Protocol):
    """Read access to the files of the `diffusers` package, by path relative to the package folder."""

    def read(self, rel: str) -> str | None:
        """The text of `rel` (e.g. `pipelines/flux/__init__.py`), or None when it does not exist."""
        ...

    def mentions(self, word: str) -> set[str]:
        """Paths of the `.py` files whose text contains `word` (as a whole identifier)."""
        ...

    def modules_in(self, folder: str) -> list[str]:
        """Paths of the `.py` files directly inside `folder` (relative to the package)."""
        ...


class CheckoutTree:
    """A checkout's package folder, read once per file."""

    def __init__(self, checkout: Checkout):
        self.checkout = checkout
        self._cache: dict[str, str | None] = {}

    def read(self, rel: str) -> str | None:
        if rel not in self._cache:
            # Confined like every other access: a symlink in the tree that leads outside it is refused, never read.
            path = self.checkout.resolve(rel, package=True)
            try:
                self._cache[rel] = path.read_text(encoding="utf-8").replace("\r\n", "\n")
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                self._cache[rel] = None
        return self._cache[rel]

    def mentions(self, word: str) -> set[str]:
        found = set()
        pattern = re.compile(rf"\b{re.escape(word)}\b")
        for path in self.checkout.package_dir.rglob("*.py"):
            rel = path.relative_to(self.checkout.package_dir).as_posix()
            try:
                text = self.read(rel)
            except CheckoutError:  # a file that is not the tree's own (a symlink out of it) mentions nothing
                continue
            if text is not None and word in text and pattern.search(text):
                found.add(rel)
        return found

    def modules_in(self, folder: str) -> list[str]:
        base = self.checkout.package_dir / folder
        if not base.is_dir():
            return []
        return sorted(f"{folder}/{path.name}" if folder else path.name for path in base.glob("*.py"))

    def subpackage_inits(self, folder: str) -> list[str]:
        base = self.checkout.package_dir / folder
        if not base.is_dir():
            return []
        return sorted(
            f"{folder}/{path.parent.name}/__init__.py" if folder else f"{path.parent.name}/__init__.py"
            for path in base.glob("*/__init__.py")
        )

    def added_at(self, rels: list[str]) -> dict[str, int]:
        """When git first saw each file (commit time), for the files git knows; empty outside a git clone."""
        import subprocess

        wanted = {f"{self.checkout.package_rel}/{rel}": rel for rel in rels}
        if not wanted:
            return {}
        try:
            log = subprocess.run(
                ["git", "-C", str(self.checkout.root), "log", "--diff-filter=A", "--format=@%ct", "--name-only", "--"]
                + sorted(wanted),
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            return {}
        found: dict[str, int] = {}
        stamp = 0
        for line in log.stdout.splitlines():
            if line.startswith("@"):
                stamp = int(line[1:])
            elif line in wanted:
                found[wanted[line]] = stamp  # the log runs newest first: the last one seen is the add
        return found

    def to_root(self, rel: str) -> str:
        """The same path relative to the checkout root (what `Checkout.write_files` takes)."""
        return f"{self.checkout.package_rel}/{rel}"


class MemoryTree:
    """Package texts in a dict, with changes layered on top (None marks a deleted file)."""

    def __init__(
        self,
        files: Mapping[str, str],
        changes: Mapping[str, str | None] | None = None,
        index: Mapping[str, set[str]] | None = None,
    ):
        self.files = files
        self.changes: dict[str, str | None] = dict(changes or {})
        self._index = index  # identifier → paths of `files` using it; built on first `mentions`

    def layer(self) -> MemoryTree:
        """A new tree over the same base files and index, with these changes as its starting point."""
        return MemoryTree(self.files, self.changes, self.index)

    @property
    def index(self) -> Mapping[str, set[str]]:
        if self._index is None:
            index: dict[str, set[str]] = {}
            for rel, text in self.files.items():
                for word in set(_WORD.findall(text)):
                    index.setdefault(word, set()).add(rel)
            self._index = index
        return self._index

    def mentions(self, word: str) -> set[str]:
        found = {rel for rel in self.index.get(word, ()) if rel not in self.changes}
        pattern = re.compile(rf"\b{re.escape(word)}\b")
        found.update(rel for rel, text in self.changes.items() if text is not None and pattern.search(text))
        return found

    @classmethod
    def from_folder(cls, package_dir: Path, suffixes: Iterable[str] = (".py",)) -> MemoryTree:
        files = {}
        for path in sorted(package_dir.rglob("*")):
            if path.is_file() and path.suffix in suffixes and "__pycache__" not in path.parts:
                files[path.relative_to(package_dir).as_posix()] = path.read_text(encoding="utf-8")
        return cls(files)

    def read(self, rel: str) -> str | None:
        if rel in self.changes:
            return self.changes[rel]
        return self.files.get(rel)

    def modules_in(self, folder: str) -> list[str]:
        prefix = f"{folder}/" if folder else ""
        found = {rel for rel in self.files if rel.startswith(prefix) and "/" not in rel[len(prefix) :]}
        found |= {rel for rel in self.changes if rel.startswith(prefix) and "/" not in rel[len(prefix) :]}
        return sorted(rel for rel in found if rel.endswith(".py") and self.read(rel) is not None)

    def subpackage_inits(self, folder: str) -> list[str]:
        return _subpackage_inits(self, folder, [*self.files, *self.changes])

    def apply(self, changes: Mapping[str, str | None]) -> None:
        self.changes.update(changes)

    def paths(self) -> list[str]:
        present = {rel for rel in self.files if self.changes.get(rel, "") is not None}
        present.update(rel for rel, text in self.changes.items() if text is not None)
        return sorted(present)


class OverlayTree:
    """Another tree with some files replaced (None deletes): plan on files not written yet (a dry run)."""

    def __init__(self, base: SourceTree, overlay: Mapping[str, str | None]):
        self.base = base
        self.overlay = dict(overlay)

    def read(self, rel: str) -> str | None:
        return self.overlay[rel] if rel in self.overlay else self.base.read(rel)

    def mentions(self, word: str) -> set[str]:
        pattern = re.compile(rf"\b{re.escape(word)}\b")
        found = {rel for rel in self.base.mentions(word) if rel not in self.overlay}
        found.update(rel for rel, text in self.overlay.items() if text is not None and pattern.search(text))
        return found

    def modules_in(self, folder: str) -> list[str]:
        prefix = f"{folder}/" if folder else ""
        found = set(modules_in(self.base, folder))
        found.update(rel for rel in self.overlay if rel.startswith(prefix) and "/" not in rel[len(prefix) :])
        return sorted(rel for rel in found if rel.endswith(".py") and self.read(rel) is not None)

    def subpackage_inits(self, folder: str) -> list[str]:
        lister = getattr(self.base, "subpackage_inits", None)
        base = lister(folder) if lister is not None else []
        return _subpackage_inits(self, folder, [*base, *self.overlay])

    def added_at(self, rels: list[str]) -> dict[str, int]:
        added = getattr(self.base, "added_at", None)
        return added([rel for rel in rels if rel not in self.overlay]) if added is not None else {}


def _subpackage_inits(tree: SourceTree, folder: str, paths) -> list[str]:
    prefix = f"{folder}/" if folder else ""
    found = set()
    for rel in paths:
        rest = rel[len(prefix) :] if rel.startswith(prefix) else None
        if rest is not None and rest.count("/") == 1 and rest.endswith("/__init__.py") and tree.read(rel) is not None:
            found.add(rel)
    return sorted(found)


def modules_in(tree: SourceTree, folder: str) -> list[str]:
    """`tree.modules_in(folder)`, or nothing for a tree that cannot list folders (inference then reads less)."""
    lister = getattr(tree, "modules_in", None)
    return list(lister(folder)) if lister is not None else []


@functools.lru_cache(maxsize=512)
def parse_cached(rel: str, text: str) -> ParsedInit:
    """Parsed inits are read-only, so the same text is parsed once however many plans read it."""
    return parse_init(rel, text)


def read_init(tree: SourceTree, rel: str) -> ParsedInit | None:
    text = tree.read(rel)
    return None if text is None else parse_cached(rel, text)
