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

    def label(self) -> str:
        if self.kind == "all":
            return "all"
        return f"{self.kind} ({len(self.files)} file{'' if len(self.files) == 1 else 's'})"


def resolve_scope(checkout: Checkout, scope: str | list[str]) -> Scope:
    facts = checkout.git_facts()
    notes: list[str] = []
    if facts.is_repo and facts.merge_base is None:
        notes.append("the repository has no commit yet: every file counts as new")
    new_lines = _new_lines(checkout, facts.merge_base, facts.changed) if facts.is_repo else {}
    base = {"merge_base": facts.merge_base, "is_git": facts.is_repo and facts.merge_base is not None}
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


def _new_lines(checkout: Checkout, merge_base: str | None, changed: list[str]) -> dict[str, set[int] | None]:
    """Added line numbers per file since `merge_base` (untracked and new files: None, all of it)."""
    if merge_base is None:
        return dict.fromkeys(changed)
    out = git(checkout, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", merge_base, "--")
    result: dict[str, set[int] | None] = {}
    for chunk in re.split(r"^diff --git ", out, flags=re.M)[1:]:
        header = re.search(r"^\+\+\+ (?:b/)?(.+)$", chunk, re.M)
        if header is None or header.group(1) == "/dev/null":
            continue
        path = header.group(1).strip()
        if re.search(r"^new file mode", chunk, re.M):
            result[path] = None
            continue
        lines: set[int] = set()
        for match in _HUNK.finditer(chunk):
            start, count = int(match.group(1)), int(match.group(2) or 1)
            lines.update(range(start, start + count))
        result[path] = lines
    for path in changed:  # untracked files are not in `git diff`
        result.setdefault(path, None)
    return result


def git(checkout: Checkout, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout.root), *args], capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        raise IntegratorError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()}", "Check the repository state.")
    return done.stdout
