"""The float64 model-code rule on upstream's own RoPE set-ups: a float64 chosen off the devices that lack it passes.

Upstream builds RoPE tables in float64 where the device has it: `torch.float32 if
torch.backends.mps.is_available() else torch.float64` (Wan, Lumina2), `maybe_adjust_dtype_for_device(torch.float64,
ids.device)` (Flux), under `with torch.device("cpu"):` (Z-Image). The strip-and-restore cases of those
transformers failed make_quality on upstream's code; an unconditional float64 must still be flagged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.quality import QualityRequest, run_quality

from .plant import PKG, line_of


UPSTREAM = {
    "z_image": "transformer_z_image.py",
    "flux": "transformer_flux.py",
    "wan": "transformer_wan.py",
    "lumina2": "transformer_lumina2.py",
}


def _restore_from_clone(workspace: Path, clone: Path) -> dict[str, str]:
    """Upstream's four transformers written as new files of the workspace (every line is new to git)."""
    paths = {}
    for key, name in UPSTREAM.items():
        text = subprocess.run(
            ["git", "-C", str(clone), "show", f"HEAD:src/diffusers/models/transformers/{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "float64" in text, f"upstream's {name} no longer uses float64: pick another file"
        rel = f"{PKG}/models/transformers/restored_{key}.py"
        (workspace / rel).write_text(text)
        paths[key] = rel
    return paths


def _float64(workspace: Path) -> list[tuple[str, int]]:
    result = run_quality(Checkout.find(workspace), QualityRequest(checks=["model-code"], max_findings=100))
    return sorted((finding.path, finding.line) for finding in result.findings if finding.code == "float64")


def test_upstreams_device_aware_float64_rope_passes(workspace: Path, diffusers_clone: Path) -> None:
    paths = _restore_from_clone(workspace, diffusers_clone)
    assert "torch.backends.mps.is_available() else torch.float64" in (workspace / paths["wan"]).read_text()
    assert "maybe_adjust_dtype_for_device(torch.float64" in (workspace / paths["flux"]).read_text()
    assert 'with torch.device("cpu"):' in (workspace / paths["z_image"]).read_text()

    assert _float64(workspace) == []


def test_unconditional_float64_in_the_same_files_is_still_flagged(workspace: Path, diffusers_clone: Path) -> None:
    paths = _restore_from_clone(workspace, diffusers_clone)
    planted = {
        "wan": "    return torch.arange(n, dtype=torch.float64)\n",  # no device in sight
        "lumina2": "    return torch.float64 if double_precision else torch.float32\n",  # a flag, not a device
        "flux": "    return x.to(device).double()\n",  # on whatever device x goes to
    }
    for key, body in planted.items():
        with (workspace / paths[key]).open("a") as handle:
            handle.write(f"\n\ndef planted_{key}(x, n, device, double_precision):\n{body}")

    assert _float64(workspace) == sorted(
        (paths[key], line_of(workspace, paths[key], body.strip())) for key, body in planted.items()
    )
