"""`# Copied from`: our re-derivation agrees with the ~2,200 markers upstream CI keeps green, and it syncs."""

from __future__ import annotations

from pathlib import Path

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality import QualityRequest, run_quality
from diffusers_integrator.testing.trees import run_git

from .plant import PKG, line_of, replace_line


COPIES = ["copies"]
DDPM = f"{PKG}/schedulers/scheduling_ddpm.py"


def test_every_marker_of_the_released_tree_matches_its_source(checkout: Checkout) -> None:
    result = run_quality(checkout, QualityRequest(scope="all", checks=COPIES))
    assert result.ok, result.findings
    detail = result.summary[0].detail
    blocks = int(detail.split(": ")[1].split(" marked")[0])
    assert blocks > 2000  # every marker was resolved, sliced, renamed and compared


def test_a_changed_source_makes_copies_elsewhere_stale_and_fix_follows_copies_of_copies(workspace: Path) -> None:
    # pipeline_flux.retrieve_timesteps is itself a copy (of Stable Diffusion's), and DreamLite copies Flux's.
    flux = f"{PKG}/pipelines/flux/pipeline_flux.py"
    marker = line_of(
        workspace,
        flux,
        "# Copied from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion.retrieve_timesteps",
    )
    edited = line_of(workspace, flux, "raise ValueError(", start=marker)
    replace_line(workspace, flux, "Only one of `timesteps` or `sigmas` can be passed", 'raise ValueError("edited")')
    checkout = Checkout.find(workspace)

    result = run_quality(checkout, QualityRequest(checks=COPIES))

    spots = {(f.path, f.line) for f in result.findings}
    assert (flux, edited) in spots
    copies_of_flux = {path for path, _ in spots if path != flux}
    assert copies_of_flux and all("dreamlite" in path for path in copies_of_flux)  # untouched files, source changed
    assert all(f.code == "copy-mismatch" and f.fixable for f in result.findings)

    fixed = run_quality(checkout, QualityRequest(checks=COPIES, fix=True))

    assert fixed.ok
    assert {item.path for item in fixed.fixed} == {flux}  # DreamLite went stale and back within the run
    assert run_git(workspace, "status", "--porcelain", "--", PKG) == ""


def _ddpm_output_body(root: Path) -> str:
    lines = (root / DDPM).read_text().splitlines(keepends=True)
    start = line_of(root, DDPM, "class DDPMSchedulerOutput(")
    end = line_of(root, DDPM, "pred_original_sample: torch.Tensor | None = None", start=start)
    return "".join(lines[start:end])


def test_renames_end_copy_and_missing_sources(workspace: Path) -> None:
    body = _ddpm_output_body(workspace)
    module = f"{PKG}/schedulers/scheduling_tiny.py"
    text = (
        "from dataclasses import dataclass\n\nimport torch\n\nfrom ..utils import BaseOutput\n\n\n"
        "@dataclass\n"
        "# Copied from diffusers.schedulers.scheduling_ddpm.DDPMSchedulerOutput with DDPM->Tiny\n"
        "class TinySchedulerOutput(BaseOutput):\n" + body.replace("DDPM", "Tiny") + "\n\n"
        "@dataclass\n"
        "class PartialOutput(BaseOutput):\n"
        "    # Copied from diffusers.schedulers.scheduling_ddpm.DDPMSchedulerOutput\n" + body + "    # End copy\n"
        "    extra: int = 0\n\n\n"
        "# Copied from diffusers.schedulers.scheduling_nowhere.Missing\n"
        "def missing():\n    return None\n"
    )
    (workspace / module).write_text(text)

    result = run_quality(Checkout.find(workspace), QualityRequest(checks=COPIES))

    # The renamed copy and the copy cut short by `# End copy` match; the unknown source is reported, not fixed.
    assert [(f.code, f.path, f.line, f.fixable) for f in result.findings] == [
        ("copy-source-missing", module, line_of(workspace, module, "scheduling_nowhere"), False)
    ]

    (workspace / module).write_text(text.replace("    # End copy\n", ""))
    result = run_quality(Checkout.find(workspace), QualityRequest(checks=COPIES))
    stale = [f for f in result.findings if f.code == "copy-mismatch"]
    assert [(f.path, f.line) for f in stale] == [(module, line_of(workspace, module, "extra: int = 0"))]
