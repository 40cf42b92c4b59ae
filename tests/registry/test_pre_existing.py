"""Findings the branch inherited from upstream are told apart from those the change made.

Every integration touches the top-level init and the dummy files, where upstream's `main` carries dozens of
findings of its own; the skill tells the agent to fix its own and report upstream's, so the tool says which is
which (`pre_existing`), by checking the tree as it was at the merge-base.
"""

from __future__ import annotations

import re
from pathlib import Path

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.registry import check_registration
from diffusers_integrator.scaffold import scaffold
from diffusers_integrator.scaffold.schema import ScaffoldRequest
from diffusers_integrator.testing.trees import run_git


def _branch_of(clone: Path, dest: Path) -> Checkout:
    run_git(dest.parent, "clone", "-q", "--local", str(clone), dest.name)
    run_git(dest, "checkout", "-q", "-b", "add-probe-net")
    return Checkout.find(dest)


def test_upstream_findings_are_pre_existing_and_the_changes_own_are_not(diffusers_clone: Path, tmp_path: Path) -> None:
    checkout = _branch_of(diffusers_clone, tmp_path / "diffusers")
    upstream = check_registration(checkout, max_findings=1000)
    assert upstream.total > 0, "upstream main carries findings of its own (the case this field exists for)"
    assert all(finding.pre_existing for finding in upstream.findings)

    scaffold(checkout, ScaffoldRequest(model_name="ProbeNet"))
    run_git(checkout.root, "add", "-A")
    run_git(checkout.root, "commit", "-q", "-m", "scaffold ProbeNet")  # committed on the branch: still the change's
    dummies = checkout.root / "src/diffusers/utils/dummy_pt_objects.py"
    text = dummies.read_text()
    dropped = re.sub(
        r"\nclass ProbeNetTransformer2DModel\(metaclass=DummyObject\):.*?(?=\nclass |\Z)", "\n", text, flags=re.S
    )
    assert dropped != text
    dummies.write_text(dropped)

    after = check_registration(checkout, max_findings=1000)
    own = [(finding.code, finding.name) for finding in after.findings if not finding.pre_existing]
    assert own == [("dummy-missing", "ProbeNetTransformer2DModel")]
    assert after.total == upstream.total + 1
    assert f"{upstream.total} pre-existing at the branch point" in after.summary
    named = check_registration(checkout, names=["ProbeNetTransformer2DModel"])
    assert [(finding.code, finding.pre_existing) for finding in named.findings] == [("dummy-missing", False)]


def test_outside_git_nothing_is_marked(diffusers_tree: Path, tmp_path: Path) -> None:
    import shutil

    tree = tmp_path / "plain"
    shutil.copytree(diffusers_tree, tree, ignore=shutil.ignore_patterns(".git"))
    report = check_registration(Checkout.find(tree), max_findings=1000)
    assert all(finding.pre_existing is None for finding in report.findings)
