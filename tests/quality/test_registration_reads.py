"""The registry engine reads the tree through `ConfinedReads`: the same confinement as `Checkout.resolve` (every
path it accepts or refuses alike, symlinks out of the tree refused), the same report, less time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.errors import CheckoutError
from diffusers_integrator.quality.registration import ConfinedReads
from diffusers_integrator.registry import check_registration


def _outcome(resolve, path: str) -> tuple[str, str]:
    try:
        return "ok", str(resolve(path, package=True))
    except CheckoutError as error:
        return "refused", error.problem


def test_every_path_is_accepted_or_refused_as_checkout_resolve_does(workspace: Path, tmp_path: Path) -> None:
    package = workspace / "src" / "diffusers"
    outside = tmp_path / "outside"
    (outside / "pkg").mkdir(parents=True)
    (outside / "module_outside.py").write_text("class Escaped:\n    pass\n")
    (outside / "pkg" / "pipeline_outside.py").write_text("class Escaped:\n    pass\n")
    os.symlink(outside / "module_outside.py", package / "models" / "transformers" / "transformer_escape.py")
    os.symlink(outside / "pkg", package / "pipelines" / "escape_folder")
    os.symlink(package / "schedulers" / "scheduling_ddpm.py", package / "schedulers" / "scheduling_inside.py")
    checkout = Checkout.find(workspace)
    fast = ConfinedReads(checkout)

    paths = [p.relative_to(package).as_posix() for p in package.rglob("*.py")][:400] + [
        "models/transformers/transformer_escape.py",  # a symlinked file leaving the tree
        "pipelines/escape_folder/pipeline_outside.py",  # under a symlinked folder leaving the tree
        "schedulers/scheduling_inside.py",  # a symlink that stays inside
        "models/../../../etc/passwd_file.py",
        "/etc/passwd_file.py",
        "models/aux.py",
        "models/con.txt",
        "models/bad|name.py",
        "models/trailing.",
        "models/missing_folder/missing_module.py",
        ".git/config_file.py",
        "__init__.py",
    ]
    for path in paths:
        assert _outcome(fast.resolve, path) == _outcome(checkout.resolve, path), path
    refused = [path for path in paths if _outcome(fast.resolve, path)[0] == "refused"]
    assert "models/transformers/transformer_escape.py" in refused
    assert "pipelines/escape_folder/pipeline_outside.py" in refused
    assert "schedulers/scheduling_inside.py" not in refused


@pytest.mark.parametrize("names", [None, ["DDPMScheduler", "FluxPipeline"]], ids=["tree", "names"])
def test_the_engine_reports_alike_through_either(checkout: Checkout, names: list[str] | None) -> None:
    plain = check_registration(checkout, names, max_findings=10_000)
    fast = check_registration(ConfinedReads(checkout), names, max_findings=10_000)
    assert fast.model_dump() == plain.model_dump()
    assert plain.files_checked > 50
