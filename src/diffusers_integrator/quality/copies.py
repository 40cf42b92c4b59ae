"""`# Copied from diffusers.a.b.C with X->Y`: our re-derivation of upstream's copy check, and its sync.

A marked block must equal its source after the renames, formatted with ruff. The rules below are diffusers'
(its `utils/check_copies.py` defines them): the object path is resolved to the first prefix that is a module
file, then to nested `class`/`def` names at growing indentation; the compared code is the body below the
`class`/`def` line; a block ends where indentation drops (blank lines and a closing `):` of a signature
continue it) or at `# End copy`; nested markers are dropped from the source; the renames are regular-expression
substitutions (`all-casing` also renames lower- and upper-case forms); the result is formatted only when
there were renames. Reproducing them exactly is what lets a scoped run agree with upstream CI.

Scoped runs check the markers in the scoped files and every marker whose source lives in a scoped file (a
change to a source makes its copies stale, wherever they are). All formatting happens in one ruff process.
"""

from __future__ import annotations

import bisect
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..checkout import Checkout
from .models import Finding
from .scope import Scope


MARKER = re.compile(r"^(\s*)#\s*Copied from\s+diffusers\.(\S+\.\S+)\s*($|\S.*$)")
_RENAME = re.compile(r"^\s*(\S+)->(\S+)(\s+.*|$)")
_DEFINITION = re.compile(r"^( *)(?:class|def)\s+(\w+)[(:]")
_CLOSING_SIGNATURE = re.compile(r"^\s*\)(\s*->.*:|:)\s*$")
_WRAPPER = "class Bla:\n"  # lets an indented snippet be formatted as a class body
# A fixed string: git's regex engine is ~20x slower on the anchored pattern; MARKER filters the hits.
_GREP = "Copied from"


class CopyError(Exception):
    """A marker whose source cannot be found."""


@dataclass
class Module:
    """A module file's lines and an index of its `class`/`def` lines by (indent, name)."""

    lines: list[str]
    definitions: dict[tuple[int, str], list[int]]


@dataclass
class Block:
    path: str
    marker_line: int  # 1-based
    object_name: str
    renames: str
    start: int = 0  # 0-based first line of the compared body
    end: int = 0  # exclusive
    observed: str = ""
    expected: str | None = None
    header: str = ""
    source_path: str | None = None
    error: str | None = None
    needs_style: bool = False

    @property
    def stale(self) -> bool:
        return self.error is None and self.expected is not None and self.observed != self.expected


@dataclass
class Tree:
    """The package's files as text, with an overlay of not-yet-written fixes."""

    checkout: Checkout
    overlay: dict[str, str] = field(default_factory=dict)
    _lines: dict[str, list[str]] = field(default_factory=dict)
    _modules: dict[str, Module] = field(default_factory=dict)
    _module_files: dict[str, str | None] = field(default_factory=dict)

    def lines(self, rel: str) -> list[str]:
        if rel not in self._lines:
            text = self.overlay.get(rel)
            if text is None:
                # As upstream reads them: no newline translation, lines end at "\n" only.
                with open(self.checkout.root / rel, encoding="utf-8", newline="\n") as stream:
                    text = stream.read()
            self._lines[rel] = split_lines(text)
        return self._lines[rel]

    def update(self, rel: str, text: str) -> None:
        self.overlay[rel] = text
        self._lines.pop(rel, None)
        self._modules.pop(rel, None)

    def module(self, rel: str) -> Module:
        if rel not in self._modules:
            lines = self.lines(rel)
            definitions: dict[tuple[int, str], list[int]] = {}
            for index, line in enumerate(lines):
                match = _DEFINITION.match(line)
                if match:
                    definitions.setdefault((len(match.group(1)), match.group(2)), []).append(index)
            self._modules[rel] = Module(lines, definitions)
        return self._modules[rel]

    def module_file(self, object_name: str) -> tuple[str, list[str]] | None:
        """(module file, remaining object names): the first dotted prefix that is a file of the package."""
        parts = object_name.split(".")
        for cut in range(1, len(parts) + 1):
            prefix = "/".join(parts[:cut])
            if prefix not in self._module_files:
                rel = f"{self.checkout.package_rel}/{prefix}.py"
                self._module_files[prefix] = rel if (self.checkout.root / rel).is_file() else None
            if self._module_files[prefix] is not None:
                return self._module_files[prefix], parts[cut:]
        return None

    def locate(self, object_name: str) -> tuple[str, int, int]:
        """(module file, first body line, end) of the object: 0-based, end exclusive, as upstream slices it."""
        found = self.module_file(object_name)
        if found is None:
            raise CopyError(f"`diffusers.{object_name}` does not start with a module of the package")
        rel, names = found
        module = self.module(rel)
        lines = module.lines
        index, indent = 0, 0
        for name in names:
            starts = module.definitions.get((indent, name), [])
            at = bisect.bisect_left(starts, index)
            index = starts[at] + 1 if at < len(starts) else len(lines) + 1
            indent += 4
        if index >= len(lines):
            raise CopyError(f"no class or function `{object_name.split('.')[-1]}` in {rel}")
        start = index
        prefix = " " * indent
        while index < len(lines) and _continues(lines[index], prefix):
            index += 1
        while len(lines[index - 1]) <= 1:
            index -= 1
        return rel, start, index

    def source(self, object_name: str) -> tuple[str, str]:
        """(module file, code of the object's body), as upstream's check slices it."""
        rel, start, end = self.locate(object_name)
        return rel, "".join(self.module(rel).lines[start:end])


def split_lines(text: str) -> list[str]:
    """`text` in lines that keep their newline, split at newlines only: what `readlines()` gives upstream's
    check (`str.splitlines` would also split at form feeds and the other Unicode line separators)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _read_exact(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace", newline="") as stream:
        return stream.read()


def _continues(line: str, indent: str) -> bool:
    return line.startswith(indent) or len(line) <= 1 or _CLOSING_SIGNATURE.search(line) is not None


def _indent_of(code: str) -> str:
    for line in code.split("\n"):
        if line:
            return re.match(r"^(\s*)", line).group(1)  # type: ignore[union-attr]
    return ""


def _apply_renames(code: str, renames: str) -> str:
    for pattern in renames.replace("with", "").split(","):
        match = _RENAME.search(pattern)
        if match is None:
            continue
        old, new, option = match.groups()
        code = re.sub(old, new, code)
        if option.strip() == "all-casing":
            code = re.sub(old.lower(), new.lower(), code)
            code = re.sub(old.upper(), new.upper(), code)
    return code


def read_block(tree: Tree, path: str, marker_index: int) -> Block | None:
    """The marked block at `marker_index` (0-based) of `path`, with its expected code (unformatted yet)."""
    lines = tree.lines(path)
    found = MARKER.search(lines[marker_index]) if marker_index < len(lines) else None
    if found is None:
        return None
    indent, object_name, renames = found.groups()
    block = Block(path, marker_index + 1, object_name, renames)
    try:
        block.source_path, expected = tree.source(object_name)
    except CopyError as error:
        block.error = str(error)
        block.start = block.end = marker_index
        return block
    expected_indent = _indent_of(expected)
    start = marker_index + 1 if indent == expected_indent else marker_index + 2
    index = start
    while index < len(lines):
        index += 1
        if index >= len(lines):
            break
        line = lines[index]
        if not (_continues(line, expected_indent) and not line.startswith(f"{expected_indent}# End copy")):
            break
    while index > 0 and len(lines[index - 1]) <= 1:
        index -= 1
    block.start, block.end = start, index
    block.observed = "".join(lines[start:index])
    expected = "\n".join(line for line in expected.split("\n") if MARKER.search(line) is None)
    if renames:
        block.header = lines[start - 1] if start >= 1 else ""
        block.expected = _apply_renames(expected, renames)
        block.needs_style = True
    else:
        block.expected = expected
    return block


def stylify(blocks: list[Block], ruff: str, config: Path | None) -> None:
    """Formats every renamed block's expected code with one ruff run (upstream runs ruff once per block)."""
    pending = [block for block in blocks if block.needs_style and block.error is None]
    if not pending:
        return
    with tempfile.TemporaryDirectory(prefix="copies-") as folder:
        paths = []
        for number, block in enumerate(pending):
            code = block.header + (block.expected or "")
            if _indent_of(code):
                code = _WRAPPER + code
            path = Path(folder) / f"block_{number}.py"
            with open(path, "w", encoding="utf-8", newline="") as stream:
                stream.write(code)
            paths.append(path)
        command = [ruff, "format", "--no-cache"]
        if config is not None:
            command += ["--config", str(config)]
        # Files named one by one: ruff never excludes an explicit path (a folder's files could match `exclude`).
        done = subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, check=False, timeout=600)
        failed = {Path(p).name for p in re.findall(r"Failed to parse (\S+?):\d+", done.stderr)}
        for block, path in zip(pending, paths, strict=True):
            # Like upstream, a snippet ruff cannot parse formats to nothing and so never matches.
            formatted = "" if path.name in failed else _read_exact(path)
            if _indent_of(block.header + (block.expected or "")):
                formatted = formatted[len(_WRAPPER) :]
            block.expected = formatted[len(block.header) :]
            block.needs_style = False


MarkerIndex = dict[str, list[tuple[int, str]]]  # path -> (0-based line index, object name) per marker


def marker_index(
    checkout: Checkout, use_git: bool, needles: list[str] | None = None, untracked: bool = True
) -> MarkerIndex:
    """Markers in the package (`git grep` when there is git: it reads only what it must).

    `needles` narrows the search to markers mentioning one of these strings (the dotted module names whose
    copies a scoped run must check).
    """
    found: MarkerIndex = {}
    package = checkout.package_rel
    if use_git:
        patterns = [arg for needle in needles for arg in ("-e", needle)] if needles else ["-e", _GREP]
        command = ["git", "-C", str(checkout.root), "grep", *(["--untracked"] if untracked else []), "-z", "-n", "-F"]
        done = subprocess.run(
            [*command, *patterns, "--", package], capture_output=True, text=True, check=False, timeout=120
        )
        if done.returncode in (0, 1):
            for record in done.stdout.split("\n"):
                if not record:
                    continue
                path, line, text = record.split("\0", 2)
                match = MARKER.search(text)
                if match and path.endswith(".py"):
                    found.setdefault(path, []).append((int(line) - 1, match.group(2)))
            return found
    for path in sorted((checkout.root / package).rglob("*.py")):
        text = _read_exact(path)
        if "Copied from" in text and (not needles or any(needle in text for needle in needles)):
            _index_text(found, checkout.rel(path), text)
    return found


def scoped_index(tree: Tree, scope: Scope) -> MarkerIndex:
    """The markers a scoped run may check: those in scoped files, and those copying from a scoped or deleted
    module (`check_copies` then keeps, of the latter, the ones whose source definition the change touched)."""
    checkout = tree.checkout
    if scope.kind == "all":
        return marker_index(checkout, scope.is_git)
    package = checkout.package_rel + "/"
    scoped = [f for f in scope.files if f.startswith(package) and f.endswith(".py") and (checkout.root / f).is_file()]
    index: MarkerIndex = {}
    for rel in scoped:
        _index_text(index, rel, "".join(tree.lines(rel)))
    modules = [_dotted(package, f) for f in scoped if not f.endswith("__init__.py")]
    modules += _deleted_modules(package, scope)
    if modules:
        # Untracked files are all in a `changed` scope already; an explicit scope may leave some out.
        hits = marker_index(checkout, scope.is_git, [f"diffusers.{m}." for m in modules], scope.kind != "changed")
        for rel, markers in hits.items():
            index.setdefault(rel, markers)
    return index


def _dotted(package: str, rel: str) -> str:
    return rel[len(package) : -3].replace("/", ".")


def _deleted_modules(package: str, scope: Scope) -> list[str]:
    return [_dotted(package, f) for f in scope.deleted if f.startswith(package) and f.endswith(".py")]


def source_touched(tree: Tree, scope: Scope, object_name: str) -> bool:
    """Whether the change touched the definition `diffusers.<object_name>` (so its copies anywhere may be stale).

    In a `changed` scope that is: its module is new, or a line the change added or removed lies in its slice
    (header to last body line), or one of its dotted names is defined on such a line anywhere in the module
    (an added, removed or renamed `class`/`def` can move what the path resolves to), or its module is gone, or
    it no longer resolves. An explicit `paths` scope counts every definition of its files as touched.
    """
    found = tree.module_file(object_name)
    if found is None:
        package = tree.checkout.package_rel + "/"
        return any((object_name + ".").startswith(m + ".") for m in _deleted_modules(package, scope))
    rel, names = found
    if not scope.includes(rel):
        return False
    if scope.kind != "changed":
        return True
    if set(names) & scope.definition_names.get(rel, set()):
        return True
    try:
        rel, start, end = tree.locate(object_name)
    except CopyError:
        return True  # upstream's script stops on a copy whose source is gone: report it
    return scope.touches_lines(rel, start, end)  # 1-based: the `class`/`def` line through the last body line


def _index_text(found: MarkerIndex, rel: str, text: str) -> None:
    markers = []
    for index, line in enumerate(split_lines(text)):
        match = MARKER.search(line)
        if match:
            markers.append((index, match.group(2)))
    if markers:
        found[rel] = markers
    else:
        found.pop(rel, None)


@dataclass
class CopiesReport:
    blocks: list[Block]
    checked_files: int

    def findings(self) -> list[Finding]:
        out = []
        for block in self.blocks:
            if block.error is not None:
                out.append(
                    Finding(
                        check="copies",
                        path=block.path,
                        line=block.marker_line,
                        col=None,
                        code="copy-source-missing",
                        message=f"`# Copied from diffusers.{block.object_name}`: {block.error}",
                        fixable=False,
                    )
                )
            elif block.stale:
                line = block.start + 1 + _first_difference(block.observed, block.expected or "")
                renamed = f" {block.renames.strip()}" if block.renames else ""
                out.append(
                    Finding(
                        check="copies",
                        path=block.path,
                        line=line,
                        col=None,
                        code="copy-mismatch",
                        message=(
                            f"differs from its source diffusers.{block.object_name}{renamed} (marker at line "
                            f"{block.marker_line}, source in {block.source_path}); fix=true rewrites the copy, or "
                            "drop the marker if the difference is intended"
                        )[:400],
                        fixable=True,
                    )
                )
        return out


def _first_difference(observed: str, expected: str) -> int:
    a, b = observed.splitlines(), expected.splitlines()
    for index, (left, right) in enumerate(zip(a, b, strict=False)):
        if left != right:
            return index
    return min(len(a), len(b))


def check_copies(
    checkout: Checkout, scope: Scope, ruff: str, config: Path | None, tree: Tree | None = None
) -> CopiesReport:
    tree = tree or Tree(checkout)
    index = scoped_index(tree, scope)
    for rel, text in tree.overlay.items():  # fixes not yet on disk
        _index_text(index, rel, text)
    blocks: list[Block] = []
    for path, markers in sorted(index.items()):
        in_scope = scope.kind == "all" or scope.includes(path)
        wanted = {marker for marker, object_name in markers if in_scope or source_touched(tree, scope, object_name)}
        if wanted:
            blocks.extend(_blocks_of(tree, path, markers, wanted))
    stylify(blocks, ruff, config)
    return CopiesReport(blocks, len(index))


def _blocks_of(tree: Tree, path: str, markers: list[tuple[int, str]], wanted: set[int]) -> list[Block]:
    """The wanted blocks of a file; like upstream, a marker inside an earlier block is not a block."""
    out: list[Block] = []
    resume = 0
    for marker, _ in markers:
        if marker < resume:
            continue
        if marker not in wanted and not any(w > marker for w in wanted):
            break
        block = read_block(tree, path, marker)
        if block is None:
            continue
        resume = max(block.end, marker + 1)
        if marker in wanted:
            out.append(block)
    return out


def sync_copies(
    checkout: Checkout, scope: Scope, ruff: str, config: Path | None, max_passes: int = 4
) -> tuple[dict[str, str], list[Block]]:
    """New contents of the files whose stale copies are rewritten from their sources (nothing written yet).

    Repeats until nothing changes, so a copy of a copy follows its rewritten source in the same run.
    Returns the new contents and the blocks rewritten.
    """
    tree = Tree(checkout)
    report = check_copies(checkout, scope, ruff, config, tree)
    rewritten: list[Block] = []
    for _ in range(max_passes):
        stale = [block for block in report.blocks if block.stale]
        if not stale:
            break
        rewritten.extend(stale)
        touched = sorted({block.path for block in stale})
        for path in touched:
            lines = list(tree.lines(path))
            for block in sorted((b for b in stale if b.path == path), key=lambda b: b.start, reverse=True):
                lines[block.start : block.end] = [block.expected or ""]
            tree.update(path, "".join(lines))
        # Next pass: the rewritten files, and every copy whose source is one of them.
        follow = Scope("paths", touched, roots=touched, is_git=scope.is_git)
        report = check_copies(checkout, follow, ruff, config, tree)
    return dict(tree.overlay), rewritten


def first_difference_line(
    checkout: Checkout, path: str, header_line: int, ruff: str, config: Path | None
) -> int | None:
    """The first differing line of the copy whose `class`/`def` line upstream's check_copies reported.

    Upstream names a stale copy by its header line; pointing at the first line that differs, as the built-in
    check does, tells the caller what changed. None when no stale block is found there.
    """
    tree = Tree(checkout)
    lines = tree.lines(path)
    for marker in range(max(header_line - 3, 0), min(header_line, len(lines))):
        if MARKER.search(lines[marker]):
            block = read_block(tree, path, marker)
            if block is not None:
                stylify([block], ruff, config)
                if block.stale:
                    return block.start + 1 + _first_difference(block.observed, block.expected or "")
    return None
