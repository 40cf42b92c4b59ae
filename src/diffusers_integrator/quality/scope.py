"""Which files a run looks at, and which of their lines are new since the merge-base.

`changed` is what a reviewer sees in the PR: files changed since the merge-base with the default branch plus
untracked ones. Review rules about "new model code" look only at added lines, whatever the scope, so a full
run and a scoped run agree on the touched files.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from typing import Literal

from ..checkout import Checkout
from ..errors import IntegratorError


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)


@dataclass
class Scope:
    kind: Literal["changed", "all", "paths"]
    files: list[str]  # existing files in scope (empty for `all`: every check walks what it needs)
    roots: list[str] = field(default_factory=list)  # explicit files/folders for `paths`
    merge_base: str | None = None
    is_git: bool = False
    # path -> line numbers added since the merge-base; None means the whole file is new; absent: untouched.
    new_lines: dict[str, set[int] | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Identifiers on the lines the change adds or removes, per file.
    words: dict[str, set[str]] = field(default_factory=dict)
    # Files the change deletes, and top-level names it removes from a file (renamed or dropped definitions).
    deleted: list[str] = field(default_factory=list)
    removed_definitions: dict[str, set[str]] = field(default_factory=dict)
    # Lines of the new file next to which the change removed lines (a pure deletion adds no line to point at).
    deletion_points: dict[str, set[int]] = field(default_factory=dict)
    # `class`/`def` names (any indentation) on lines the change adds or removes, per file.
    definition_names: dict[str, set[str]] = field(default_factory=dict)
    _file_set: set[str] = field(init=False, repr=False, default_factory=set)

    def __post_init__(self) -> None:
        self._file_set = set(self.files)

    def includes(self, path: str) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "changed":
            return path in self._file_set
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in self.roots)

    def is_new(self, path: str, line: int) -> bool:
        """Whether `line` of `path` was added since the merge-base (every line, outside git)."""
        if not self.is_git:
            return True
        if path not in self.new_lines:
            return False
        lines = self.new_lines[path]
        return lines is None or line in lines

    def touched(self, path: str) -> bool:
        return not self.is_git or path in self.new_lines

    def touches_lines(self, path: str, first: int, last: int) -> bool:
        """Whether the change added or removed a line within `first`..`last` (1-based, inclusive) of `path`.

        Outside git, or for a file the change creates, every line counts as touched.
        """
        if not self.is_git:
            return True
        if path not in self.new_lines:
            return False
        added = self.new_lines[path]
        if added is None:
            return True
        points = self.deletion_points.get(path, set())
        return any(first <= line <= last for line in added) or any(first <= line <= last for line in points)

    def label(self) -> str:
        if self.kind == "all":
            return "all"
        return f"{self.kind} ({len(self.files)} file{'' if len(self.files) == 1 else 's'})"


def resolve_scope(checkout: Checkout, scope: str | list[str]) -> Scope:
    facts = checkout.git_facts()
    notes: list[str] = []
    if facts.is_repo and facts.merge_base is None:
        notes.append("the repository has no commit yet: every file counts as new")
    diff = _diff(checkout, facts.merge_base, facts.changed) if facts.is_repo else _Diff()
    new_lines = diff.new_lines
    base = {
        "merge_base": facts.merge_base,
        "is_git": facts.is_repo and facts.merge_base is not None,
        "words": diff.words,
        "deleted": diff.deleted,
        "removed_definitions": diff.removed_definitions,
        "deletion_points": diff.deletion_points,
        "definition_names": diff.definition_names,
    }
    if isinstance(scope, list):
        roots = []
        for raw in scope:
            target = checkout.resolve(raw)
            if not target.exists():
                raise IntegratorError(f"{raw} does not exist in the checkout.", "Give paths relative to its root.")
            roots.append(checkout.rel(target))
        files = sorted(
            rel for root in roots for rel in ([root] if (checkout.root / root).is_file() else _walk(checkout, root))
        )
        return Scope("paths", files, roots=roots, new_lines=new_lines, notes=notes, **base)
    if scope == "all":
        return Scope("all", [], new_lines=new_lines, notes=notes, **base)
    if not facts.is_repo:
        notes.append("the checkout is not a git repository, so there is no `changed` scope: checked everything")
        return Scope("all", [], notes=notes)
    changed = [path for path in facts.changed if (checkout.root / path).is_file()]
    if facts.base_ref:
        notes.append(f"changed since the merge-base with {facts.base_ref} ({(facts.merge_base or '')[:10]})")
    else:
        notes.append("no default branch to compare with: changed means uncommitted and untracked files")
    return Scope("changed", changed, new_lines=new_lines, notes=notes, **base)


def _walk(checkout: Checkout, folder: str) -> list[str]:
    base = checkout.root / folder
    return [
        p.relative_to(checkout.root).as_posix()
        for p in base.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not any(part.startswith(".") for part in p.parts)
    ]


_WORD = re.compile(r"[A-Za-z_]\w{2,}")
_DEFINITION = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)|^([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")
_ANY_DEFINITION = re.compile(r"^\s*(?:async\s+def|def|class)\s+(\w+)")


@dataclass
class _Diff:
    new_lines: dict[str, set[int] | None] = field(default_factory=dict)
    words: dict[str, set[str]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    removed_definitions: dict[str, set[str]] = field(default_factory=dict)
    deletion_points: dict[str, set[int]] = field(default_factory=dict)
    definition_names: dict[str, set[str]] = field(default_factory=dict)


def _diff(checkout: Checkout, merge_base: str | None, changed: list[str]) -> _Diff:
    """What `git diff -U0 <merge-base>` says: added lines per file (untracked and new files: None, all of it),
    the identifiers on changed lines, deleted files, and top-level definitions a file lost."""
    diff = _Diff()
    if merge_base is None:
        diff.new_lines = dict.fromkeys(changed)
        return diff
    out = git(checkout, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", merge_base, "--")
    for chunk in re.split(r"^diff --git ", out, flags=re.M)[1:]:
        header = re.search(r"^\+\+\+ (?:b/)?(.+)$", chunk, re.M)
        if header is None:
            continue
        path = header.group(1).strip()
        removed_text = [line[1:] for line in chunk.splitlines() if line.startswith("-") and not line.startswith("---")]
        added_text = [line[1:] for line in chunk.splitlines() if line.startswith("+") and not line.startswith("+++")]
        if path == "/dev/null":
            old = re.search(r"^--- (?:a/)?(.+)$", chunk, re.M)
            if old:
                path = old.group(1).strip()
                diff.deleted.append(path)
        diff.words[path] = {word for line in removed_text + added_text for word in _WORD.findall(line)}
        diff.definition_names[path] = {
            match.group(1) for line in removed_text + added_text if (match := _ANY_DEFINITION.match(line))
        }
        if path in diff.deleted:
            continue
        gone = _definitions(removed_text) - _definitions(added_text)
        if gone:
            diff.removed_definitions[path] = gone
        if re.search(r"^new file mode", chunk, re.M):
            diff.new_lines[path] = None
            continue
        lines: set[int] = set()
        points: set[int] = set()
        for match in _HUNK.finditer(chunk):
            start, count = int(match.group(1)), int(match.group(2) or 1)
            lines.update(range(start, start + count))
            if count == 0:  # `+start,0`: lines removed after line `start` of the new file
                points.update((start, start + 1))
        diff.new_lines[path] = lines
        if points:
            diff.deletion_points[path] = points
    for path in changed:  # untracked files are not in `git diff`
        if path not in diff.deleted:
            diff.new_lines.setdefault(path, None)
    return diff


def _definitions(lines: list[str]) -> set[str]:
    return {next(g for g in match.groups() if g) for line in lines if (match := _DEFINITION.match(line))}


def git(checkout: Checkout, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout.root), *args], capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        raise IntegratorError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()}", "Check the repository state.")
    return done.stdout
