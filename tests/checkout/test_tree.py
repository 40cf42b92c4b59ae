"""Checkout: finding a tree, refusing every path that leaves it, and writing so nothing is ever torn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.errors import CheckoutError
from diffusers_integrator.testing.trees import run_git


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the root except git's and our own state, to prove a refusal wrote nothing."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.parts and ".diffusers-integrator" not in path.parts
    }


def test_finds_the_clone_from_any_folder_inside_it(workspace: Path) -> None:
    for start in (workspace, workspace / "src", workspace / "src" / "diffusers" / "models" / "transformers"):
        checkout = Checkout.find(start)
        assert checkout.root == workspace.resolve()
        assert checkout.layout == "git-clone"
        assert checkout.package_rel == "src/diffusers"
    assert Checkout.find(workspace).diffusers_version() is not None


def test_finds_a_bare_package_layout(workspace: Path, tmp_path: Path) -> None:
    bare = tmp_path / "site"
    (workspace / "src").rename(bare)
    checkout = Checkout.find(bare / "diffusers")
    assert checkout.layout == "package"
    assert checkout.package_dir == bare / "diffusers"


def test_a_folder_without_diffusers_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(CheckoutError, match="--checkout"):
        Checkout.find(tmp_path)


def test_an_incomplete_tree_lists_what_is_missing(workspace: Path) -> None:
    (workspace / "src" / "diffusers" / "schedulers" / "__init__.py").unlink()
    with pytest.raises(CheckoutError, match=r"schedulers/__init__\.py"):
        Checkout.find(workspace)


@pytest.mark.parametrize(
    "path",
    [
        "../outside.py",
        "src/../../outside.py",
        "/etc/passwd",
        "src/diffusers/bad\x00name.py",
        "src/diffusers/new\nline.py",
        "src/diffusers/aux.py",
        "src/diffusers/trailing. ",
        ".git/config",
        "",
    ],
)
def test_paths_that_leave_or_abuse_the_tree_are_refused_and_nothing_is_written(checkout: Checkout, path: str) -> None:
    before = _snapshot(checkout.root)
    with pytest.raises(CheckoutError):
        checkout.write_files({"src/diffusers/ok.py": "x = 1\n", path: "y = 2\n"})
    assert _snapshot(checkout.root) == before


def test_a_symlink_that_leaves_the_tree_is_refused(checkout: Checkout, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (checkout.root / "src" / "diffusers" / "escape").symlink_to(outside)
    with pytest.raises(CheckoutError, match="outside the checkout"):
        checkout.write_text("src/diffusers/escape/payload.py", "x = 1\n")
    assert not (outside / "payload.py").exists()


def test_absolute_paths_inside_the_tree_are_accepted(checkout: Checkout) -> None:
    target = checkout.root / "src" / "diffusers" / "absolute.py"
    change = checkout.write_text(str(target), "x = 1\n")
    assert change.path == "src/diffusers/absolute.py" and target.read_text() == "x = 1\n"


def test_writes_are_idempotent_and_dry_run_writes_nothing(checkout: Checkout) -> None:
    rel = "src/diffusers/models/new_model.py"
    preview = checkout.write_text(rel, "a = 1\n", dry_run=True)
    assert preview.action == "created" and "+a = 1" in preview.diff
    assert not (checkout.root / rel).exists()
    assert checkout.write_text(rel, "a = 1\n").action == "created"
    assert checkout.write_text(rel, "a = 1\n").action == "unchanged"
    changed = checkout.write_text(rel, "a = 2\n")
    assert changed.action == "modified"
    assert "-a = 1" in changed.diff and "+a = 2" in changed.diff


def test_create_only_never_overwrites(checkout: Checkout) -> None:
    rel = "src/diffusers/models/__init__.py"
    before = (checkout.root / rel).read_bytes()
    with pytest.raises(CheckoutError, match="already exists"):
        checkout.write_files({rel: "# replaced\n"}, create_only=True)
    assert (checkout.root / rel).read_bytes() == before


def test_mode_and_crlf_line_endings_are_kept(checkout: Checkout) -> None:
    target = checkout.root / "scripts" / "convert.py"
    target.parent.mkdir()
    target.write_bytes(b"#!/usr/bin/env python\r\nprint(1)\r\n")
    target.chmod(0o755)
    checkout.write_text("scripts/convert.py", "#!/usr/bin/env python\nprint(2)\n")
    assert target.read_bytes() == b"#!/usr/bin/env python\r\nprint(2)\r\n"
    assert target.stat().st_mode & 0o777 == 0o755


def test_git_facts_list_the_change_since_the_merge_base(checkout: Checkout) -> None:
    root = checkout.root
    run_git(root, "checkout", "-q", "-b", "add-foo")
    checkout.write_text("src/diffusers/models/transformers/transformer_foo.py", "x = 1\n")
    run_git(root, "add", "-A")
    run_git(root, "commit", "-q", "-m", "foo")
    checkout.write_text("docs_note.md", "untracked\n")
    facts = checkout.git_facts()
    assert facts.branch == "add-foo" and facts.base_ref == "main"
    assert facts.merge_base != facts.head
    assert facts.changed == ["docs_note.md", "src/diffusers/models/transformers/transformer_foo.py"]
    assert facts.dirty


_LOCK_HOLDER = """
import sys, time
from diffusers_integrator.checkout import Checkout
with Checkout.find(sys.argv[1]).writer_lock():
    print("locked", flush=True)
    time.sleep(30)
"""


def test_the_writer_lock_serialises_processes(checkout: Checkout) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, str(checkout.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CheckoutError, match="writer lock"):
            with checkout.writer_lock(timeout_s=0.3):
                pass
    finally:
        holder.kill()
        holder.wait()
    with checkout.writer_lock(timeout_s=5):
        pass


_WRITER = """
import sys
from diffusers_integrator.checkout import Checkout
checkout = Checkout.find(sys.argv[1])
old, new = "a" * 4_000_000 + "\\n", "b" * 4_000_000 + "\\n"
print("ready", flush=True)
i = 0
while True:
    checkout.write_text("src/diffusers/big.py", new if i % 2 else old)
    i += 1
"""


def test_a_kill_during_a_write_leaves_the_old_or_the_new_file(checkout: Checkout) -> None:
    target = checkout.root / "src" / "diffusers" / "big.py"
    target.write_text("a" * 4_000_000 + "\n")
    valid = {"a" * 4_000_000 + "\n", "b" * 4_000_000 + "\n"}
    for delay in (0.05, 0.13, 0.21, 0.37, 0.5):
        writer = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_WRITER), str(checkout.root)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert target.read_text() in valid
    # A killed writer may leave its temp file behind; the next write under the lock clears it.
    Checkout.find(checkout.root).write_text("src/diffusers/big.py", "c\n")
    assert not list(target.parent.glob(".big.py.*.tmp"))


def test_the_state_folder_ignores_itself_even_when_it_existed_before(checkout: Checkout) -> None:
    # The user made `specs/` by hand, as the docs say, before any tool used the folder.
    spec = checkout.root / ".diffusers-integrator" / "specs" / "parity_foo.py"
    spec.parent.mkdir(parents=True)
    spec.write_text("def reference(): ...\n")
    assert checkout.state_dir.is_dir()
    run_git(checkout.root, "add", "-A")
    staged = run_git(checkout.root, "diff", "--cached", "--name-only")
    assert ".diffusers-integrator" not in staged
    # A .gitignore the user wrote there is theirs: it is kept as it is.
    (checkout.state_dir / ".gitignore").write_text("*\n# mine\n")
    assert (checkout.state_dir / ".gitignore").read_text() == "*\n# mine\n"


def test_writing_holds_the_whole_read_compute_write(checkout: Checkout) -> None:
    """Eight threads each read a counter, think, and write it back plus one: no increment may be lost."""
    import threading

    checkout.write_text("counter.txt", "0\n")
    copies = [Checkout.find(checkout.root) for _ in range(8)]  # each server finds its own Checkout

    def bump(mine: Checkout) -> None:
        with mine.writing():
            value = int(mine.read_text("counter.txt"))
            time.sleep(0.01)
            mine.write_text("counter.txt", f"{value + 1}\n")  # takes the lock again: re-entrant

    threads = [threading.Thread(target=bump, args=(mine,)) for mine in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert checkout.read_text("counter.txt") == "8\n"


def test_writing_is_reentrant_and_shuts_out_other_threads_and_processes(checkout: Checkout) -> None:
    import threading

    refused: list[str] = []

    def other_thread() -> None:
        try:
            with checkout.writing(timeout_s=0.2):
                pass
        except CheckoutError as error:
            refused.append(str(error))

    with checkout.writing(), checkout.writing():
        checkout.write_text("a.txt", "a\n")
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        probe = subprocess.run(
            [sys.executable, "-c", _LOCK_PROBE, str(checkout.root)], capture_output=True, text=True, timeout=60
        )
    assert refused and "Retry" in refused[0]
    assert probe.stdout.strip() == "refused", probe.stderr
    with checkout.writing(timeout_s=1):  # released on the way out
        pass


_LOCK_PROBE = """
import sys
from diffusers_integrator.checkout import Checkout
from diffusers_integrator.errors import CheckoutError
try:
    with Checkout.find(sys.argv[1]).writing(timeout_s=0.3):
        print("got it")
except CheckoutError:
    print("refused")
"""


def test_reading_through_a_symlink_that_leaves_the_tree_is_refused(checkout: Checkout, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0\n")
    (checkout.root / "etc_link").symlink_to(secret.parent)
    with pytest.raises(CheckoutError, match="outside the checkout"):
        checkout.read_text("etc_link/passwd")


def test_a_root_reached_through_a_symlink_confines_to_the_real_tree(workspace: Path, tmp_path: Path) -> None:
    # `Checkout.resolve` compares every target with the root's real path, taken once (`real_root`).
    link = tmp_path / "clone-link"
    link.symlink_to(workspace, target_is_directory=True)
    checkout = Checkout(link, link / "src" / "diffusers", "git-clone")
    assert checkout.real_root == workspace.resolve()
    inside = checkout.resolve("models/__init__.py", package=True)
    assert inside == link / "src" / "diffusers" / "models" / "__init__.py"
    assert checkout.rel(inside) == "src/diffusers/models/__init__.py"
    for absolute in (workspace / "setup.py", link / "setup.py"):
        assert checkout.resolve(str(absolute)) == link / "setup.py"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (workspace / "escape").symlink_to(outside)
    with pytest.raises(CheckoutError, match="outside the checkout"):
        checkout.read_text("escape/anything.py")
    with pytest.raises(CheckoutError, match="outside the checkout"):
        checkout.resolve(str(outside / "anything.py"))
