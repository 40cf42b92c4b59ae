"""The user's diffusers tree: found, validated, confined, written atomically, and read through git.

Every tool that touches the user's files goes through a `Checkout`. It guarantees three things a reviewer
would otherwise have to trust an agent for: nothing is written outside the tree, a file is either the old or
the new version (never torn), and two clients never interleave their writes.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import glob
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, Field

from ..errors import CheckoutError


STATE_DIR_NAME = ".diffusers-integrator"
_LOCK_FILE = "writer.lock"
# Characters that make a path unreadable in a diff, a shell or on Windows.
_ODD_CHARS = re.compile(r"[\x00-\x1f\x7f<>:\"|?*\\]")
_WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}
# How long a tool call waits for another's write before it gives up (a scaffold or quality fix takes seconds).
WRITER_TIMEOUT_S = 60.0


class _RootLock:
    """The writer lock of one checkout root in this process: a re-entrant thread lock, plus the `flock` that
    the outermost holder keeps on the state dir's lock file (so other processes wait too)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.depth = 0  # nesting depth of the holding thread; guarded by `lock`
        self.handle = None  # the open lock file while depth > 0


_ROOT_LOCKS: dict[Path, _RootLock] = {}
_ROOT_LOCKS_GUARD = threading.Lock()


def _root_lock(root: Path) -> _RootLock:
    with _ROOT_LOCKS_GUARD:
        return _ROOT_LOCKS.setdefault(root, _RootLock())


class FileChange(BaseModel):
    """One file a write touched (or would touch, under `dry_run`)."""

    path: str = Field(description="Path relative to the checkout root, with forward slashes.")
    action: Literal["created", "modified", "deleted", "unchanged"]
    diff: str = Field(default="", description="Unified diff of the change; empty when unchanged.")


class GitFacts(BaseModel):
    """What git says about the checkout, for traces and scoped quality runs."""

    is_repo: bool
    head: str | None = None
    branch: str | None = None
    base_ref: str | None = Field(default=None, description="The default branch the change is measured against.")
    merge_base: str | None = None
    changed: list[str] = Field(default_factory=list, description="Files changed since the merge-base, plus untracked.")
    dirty: bool = False


class Checkout:
    """A validated diffusers tree.

    `root` is the repository root (the folder that holds `src/diffusers` in a git clone, or the folder that
    holds the `diffusers` package in a bare package layout); `package_dir` is the `diffusers` package itself.
    """

    def __init__(self, root: Path, package_dir: Path, layout: Literal["git-clone", "package"]):
        self.root = root
        self.package_dir = package_dir
        self.layout = layout

    @functools.cached_property
    def real_root(self) -> Path:
        """The root with every symlink resolved, once: `resolve` compares each target against it, and a registry
        check resolves thousands of paths."""
        return self.root.resolve()

    # ------------------------------------------------------------------ finding and validating

    @classmethod
    def find(cls, path: str | os.PathLike[str] | None = None) -> Checkout:
        """Finds the diffusers tree at `path` or in one of its parents (default: the working directory)."""
        start = Path(path if path is not None else os.getcwd()).expanduser()
        if not start.exists():
            raise CheckoutError(f"{start} does not exist.", "Pass --checkout with the path of your diffusers clone.")
        start = start.resolve()
        for candidate in (start, *start.parents):
            found = cls._layout_at(candidate)
            if found is not None:
                checkout = cls(*found)
                checkout.validate()
                return checkout
        raise CheckoutError(
            f"No diffusers tree at {start} or above it: expected `src/diffusers/__init__.py` (a git clone) or "
            "`diffusers/__init__.py` (a package layout).",
            "Pass --checkout with the root of a diffusers clone (`git clone https://github.com/huggingface/diffusers`).",
        )

    @staticmethod
    def _layout_at(folder: Path) -> tuple[Path, Path, Literal["git-clone", "package"]] | None:
        if (folder / "src" / "diffusers" / "__init__.py").is_file():
            return folder, folder / "src" / "diffusers", "git-clone"
        if folder.name == "src" and (folder / "diffusers" / "__init__.py").is_file():
            return folder.parent, folder / "diffusers", "git-clone"
        if folder.name == "diffusers" and folder.parent.name == "src" and (folder / "__init__.py").is_file():
            return folder.parent.parent, folder, "git-clone"
        if folder.name == "diffusers" and (folder / "__init__.py").is_file() and (folder / "models").is_dir():
            return folder.parent, folder, "package"
        if (folder / "diffusers" / "__init__.py").is_file() and (folder / "diffusers" / "models").is_dir():
            return folder, folder / "diffusers", "package"
        return None

    def validate(self) -> None:
        """Raises a `CheckoutError` that lists every missing piece a diffusers tree must have."""
        required = {
            "__init__.py": "the top-level init with `_import_structure`",
            "models/__init__.py": "the models sub-package init",
            "pipelines/__init__.py": "the pipelines sub-package init",
            "schedulers/__init__.py": "the schedulers sub-package init",
            "utils/__init__.py": "the utils package (dummy objects live there)",
        }
        missing = [f"{name} ({why})" for name, why in required.items() if not (self.package_dir / name).is_file()]
        if not missing and "_import_structure" not in (self.package_dir / "__init__.py").read_text(encoding="utf-8"):
            missing.append("`_import_structure` in __init__.py (this is not diffusers' lazy-import layout)")
        if missing:
            raise CheckoutError(
                f"{self.package_dir} is not a complete diffusers package; missing: " + "; ".join(missing) + ".",
                "Point --checkout at an unmodified diffusers clone, or restore these files with git.",
            )

    @property
    def package_rel(self) -> str:
        """The package folder relative to the root: `src/diffusers` or `diffusers`."""
        return self.package_dir.relative_to(self.root).as_posix()

    @property
    def state_dir(self) -> Path:
        """`.diffusers-integrator/` in the root, git-ignored: traces, reports, specs, job results."""
        state = self.root / STATE_DIR_NAME
        state.mkdir(parents=True, exist_ok=True)
        ignore = state / ".gitignore"
        # Written whenever missing, not only when the folder is new: a user who made `specs/` by hand first must
        # not have `git add -A` commit traces and reports. A .gitignore already there is the user's: kept.
        if not ignore.exists():
            with contextlib.suppress(FileExistsError):
                with open(ignore, "x", encoding="utf-8") as stream:
                    stream.write("# Working files of diffusers-integrator; never shipped.\n*\n")
        return state

    def diffusers_version(self) -> str | None:
        """The `__version__` string of the tree's own package (not the installed one)."""
        match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', self.read_text("__init__.py", package=True), re.M)
        return match.group(1) if match else None

    # ------------------------------------------------------------------ confinement

    def resolve(self, path: str | os.PathLike[str], *, package: bool = False) -> Path:
        """Maps a caller's path to an absolute path inside the tree, or refuses it.

        Relative paths are taken from the root (or from the package folder when `package=True`). Refused:
        `..` segments, absolute paths outside the tree, symlinks (anywhere along the path) that leave it,
        names with control or shell-hostile characters, Windows-reserved names, and the `.git` folder.
        """
        text = os.fspath(path)
        if not text or not text.strip():
            raise CheckoutError("Empty path.", "Give a path relative to the checkout root, e.g. `src/diffusers/...`.")
        raw = Path(text)
        base = self.package_dir if package else self.root
        if raw.is_absolute():
            try:
                relative = raw.resolve(strict=False).relative_to(self.real_root)
            except ValueError:
                raise CheckoutError(
                    f"{text} is outside the checkout {self.root}.",
                    "Give a path inside the checkout, relative to its root.",
                ) from None
            parts = relative.parts
            base = self.root
        else:
            parts = PurePosixPath(text.replace("\\", "/")).parts
        for part in parts:
            if part == "..":
                raise CheckoutError(f"{text} contains `..`.", "Give a path inside the checkout without `..`.")
            if _ODD_CHARS.search(part) or part.strip() != part or part.endswith("."):
                raise CheckoutError(
                    f"{text!r} has a name with control, reserved or trailing characters.",
                    "Use plain file names: letters, digits, `_`, `-`, `.`.",
                )
            if part.split(".")[0].lower() in _WINDOWS_RESERVED:
                raise CheckoutError(f"{text} uses a name reserved on Windows ({part}).", "Choose another name.")
        if parts and parts[0] == ".git":
            raise CheckoutError(
                f"{text} is inside .git.", "Tools never touch git's own files: give a path in the work tree."
            )
        target = base.joinpath(*parts)
        real_target = target.resolve(strict=False)
        if real_target != self.real_root and self.real_root not in real_target.parents:
            raise CheckoutError(
                f"{text} resolves to {real_target}, outside the checkout (a symlink leaves the tree).",
                "Write to the real file inside the checkout, or remove the symlink.",
            )
        return target

    def rel(self, path: Path) -> str:
        """Path relative to the root, with forward slashes (what results and diffs show)."""
        return path.resolve().relative_to(self.real_root).as_posix()

    # ------------------------------------------------------------------ reading

    def read_text(self, path: str | os.PathLike[str], *, package: bool = False) -> str:
        """Reads a file of the tree with universal newlines (`\\n` whatever is on disk)."""
        target = self.resolve(path, package=package)
        try:
            return target.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CheckoutError(
                f"{self.rel(target)} does not exist.", "Check the path (relative to the root)."
            ) from None

    def exists(self, path: str | os.PathLike[str], *, package: bool = False) -> bool:
        return self.resolve(path, package=package).exists()

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def writing(self, timeout_s: float = WRITER_TIMEOUT_S) -> Iterator[None]:
        """Holds the checkout's writer lock for a whole read-compute-write.

        A tool call that reads files, computes edits and writes them must hold this around all three, or two
        calls (threads of one server, or two servers on one checkout) read the same old text and the second
        write loses the first one's change. Re-entrant for the thread holding it (so `write_files` inside takes
        it again for free); other threads wait on a per-root lock, other processes on an `flock` of a file in
        the state dir. Refuses with a `CheckoutError` after `timeout_s`.
        """
        root_lock = _root_lock(self.real_root)
        if not root_lock.lock.acquire(timeout=timeout_s):
            raise CheckoutError(
                f"Another tool call has been writing to this checkout for over {timeout_s:.0f} s.",
                "Retry when it has finished.",
            )
        try:
            root_lock.depth += 1
            if root_lock.depth == 1:
                handle = open(self.state_dir / _LOCK_FILE, "a+")  # noqa: SIM115 - held until the outermost exit
                try:
                    _acquire_file_lock(handle, timeout_s)
                except BaseException:
                    handle.close()
                    raise
                root_lock.handle = handle
            try:
                yield
            finally:
                if root_lock.depth == 1 and root_lock.handle is not None:
                    handle, root_lock.handle = root_lock.handle, None
                    try:
                        _release_file_lock(handle)
                    finally:
                        handle.close()
        finally:
            root_lock.depth -= 1
            root_lock.lock.release()

    # The name write_files and older callers use; the same lock.
    writer_lock = writing

    def write_text(self, path: str | os.PathLike[str], text: str, *, dry_run: bool = False) -> FileChange:
        """Writes one file atomically (see `write_files`)."""
        return self.write_files({os.fspath(path): text}, dry_run=dry_run)[0]

    def write_files(
        self, files: Mapping[str, str | None], *, dry_run: bool = False, create_only: bool = False
    ) -> list[FileChange]:
        """Writes several files under one writer lock; `None` as content deletes the file.

        All paths are validated before anything is written, so a bad path writes nothing. Each file is
        replaced atomically (temp file, fsync, rename), keeping its mode and its line endings. Unchanged
        content is not rewritten, so repeating a call is a no-op. With `create_only`, an existing file with
        other content is refused rather than overwritten. `dry_run` returns the diffs and writes nothing.
        """
        targets = {path: self.resolve(path) for path in files}
        changes: list[tuple[Path, str | None, FileChange]] = []
        for path, target in targets.items():
            new = files[path]
            if target.is_dir():
                raise CheckoutError(f"{self.rel(target)} is a folder.", "Give the path of a file.")
            old_raw = target.read_bytes() if target.exists() else None
            old = old_raw.decode("utf-8").replace("\r\n", "\n") if old_raw is not None else None
            rel = target.relative_to(self.root).as_posix()
            if new is None:
                action = "deleted" if old is not None else "unchanged"
            elif old is None:
                action = "created"
            elif old == new:
                action = "unchanged"
            else:
                if create_only:
                    raise CheckoutError(f"{rel} already exists with other content.", "Refusing to overwrite it.")
                action = "modified"
            diff = "" if action == "unchanged" else unified_diff(rel, old, new)
            on_disk = new
            if new is not None and old_raw is not None and b"\r\n" in old_raw:
                on_disk = new.replace("\r\n", "\n").replace("\n", "\r\n")
            changes.append((target, on_disk, FileChange(path=rel, action=action, diff=diff)))
        if dry_run:
            return [change for _, _, change in changes]
        with self.writer_lock():
            for target, content, change in changes:
                _remove_stale_temp_files(target)
                if change.action == "deleted":
                    target.unlink()
                elif change.action in ("created", "modified"):
                    atomic_write(target, content or "")
        return [change for _, _, change in changes]

    # ------------------------------------------------------------------ git

    def git_facts(self) -> GitFacts:
        """Head, default-branch merge-base, changed and untracked files, dirty state."""
        import git  # gitpython is only needed here; keep it off the import path of the server

        try:
            repo = git.Repo(self.root, search_parent_directories=False)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            return GitFacts(is_repo=False)
        if not repo.head.is_valid():
            return GitFacts(is_repo=True, dirty=True, changed=sorted(repo.untracked_files))
        head = repo.head.commit.hexsha
        branch = None if repo.head.is_detached else repo.active_branch.name
        base_ref = _default_branch(repo, branch)
        merge_base = head
        if base_ref is not None:
            bases = repo.merge_base(base_ref, "HEAD")
            merge_base = bases[0].hexsha if bases else head
        changed = set(repo.git.diff("--name-only", merge_base).splitlines()) if merge_base else set()
        changed.update(repo.untracked_files)
        return GitFacts(
            is_repo=True,
            head=head,
            branch=branch,
            base_ref=base_ref,
            merge_base=merge_base,
            changed=sorted(changed),
            dirty=repo.is_dirty(untracked_files=True),
        )


def _default_branch(repo, current: str | None) -> str | None:
    """The branch a change is measured against: upstream's default, else main/master, else None."""
    for ref in ("upstream/main", "origin/HEAD", "origin/main"):
        with contextlib.suppress(Exception):
            repo.commit(ref)
            return ref
    for name in ("main", "master"):
        if name in repo.heads and name != current:
            return name
    return None


def unified_diff(rel: str, old: str | None, new: str | None) -> str:
    """A `git diff`-style unified diff of one file."""
    before = (old or "").splitlines(keepends=True)
    after = (new or "").splitlines(keepends=True)
    lines = difflib.unified_diff(
        before,
        after,
        fromfile=f"a/{rel}" if old is not None else "/dev/null",
        tofile=f"b/{rel}" if new is not None else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def atomic_write(target: Path, content: str) -> None:
    """Replaces `target` with `content` so a reader sees the old or the new file, never a torn one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o7777 if target.exists() else None
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temp_name, mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp_name, 0o666 & ~umask)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_dir(target.parent)


def _remove_stale_temp_files(target: Path) -> None:
    """Temp files a killed writer left beside `target`; safe to remove because we hold the writer lock."""
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _acquire_file_lock(handle, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise CheckoutError(
                    "Another process holds the writer lock of this checkout.",
                    "Wait for the other client's write to finish, then retry.",
                ) from None
            time.sleep(0.05)


def _release_file_lock(handle) -> None:
    if os.name == "nt":
        import msvcrt

        with contextlib.suppress(OSError):
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
