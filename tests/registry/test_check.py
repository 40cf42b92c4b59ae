"""check_registration: every finding on the untouched release is a real upstream inconsistency (explained
below, and the runtime ones confirmed in a fresh interpreter), and planted faults are found at the right line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict

import pytest

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.registry import SymbolSpec, check_registration, register_names
from diffusers_integrator.testing.trees import run_git


TOP = "src/diffusers/__init__.py"
P = "src/diffusers/pipelines"

# Every finding check_registration reports on diffusers 0.42.1, grouped by code, with why it is real.
EXPECTED: dict[str, set[tuple[str, int | None, str | None]]] = {
    # In `_import_structure` but not mirrored under TYPE_CHECKING. StableCascadeUNet is the Z-Image bug of this
    # release (no dummy: without torch, `from diffusers import StableCascadeUNet` fails). The utils names and
    # FromOriginalModelMixin are missing under DIFFUSERS_SLOW_IMPORT (confirmed below); the pipeline output
    # dataclasses registered in the `_import_structure = {...}` literal are never imported by the typing half (info
    # only: that is upstream's form, and register_lazy_import writes it too; see test_restore_faults.py).
    "typing-missing": {
        (TOP, 41, "FromOriginalModelMixin"),
        (TOP, 50, "is_inflect_available"),
        (TOP, 51, "is_invisible_watermark_available"),
        (TOP, 60, "is_unidecode_available"),
        (TOP, 61, "logging"),
        (TOP, 377, "StableCascadeUNet"),
        (f"{P}/chroma/__init__.py", 15, "ChromaPipelineOutput"),
        (f"{P}/cogview3/__init__.py", 15, "CogView3PlusPipelineOutput"),
        (f"{P}/cogview4/__init__.py", 15, "CogView4PlusPipelineOutput"),
        (f"{P}/deprecated/semantic_stable_diffusion/__init__.py", 24, "SemanticStableDiffusionPipelineOutput"),
        (f"{P}/deprecated/stable_diffusion_safe/__init__.py", 70, "StableDiffusionSafetyChecker"),
        (f"{P}/deprecated/versatile_diffusion/__init__.py", 36, "UNetFlatConditionModel"),
        (f"{P}/flux/__init__.py", 15, "FluxPipelineOutput"),
        (f"{P}/flux/__init__.py", 15, "FluxPriorReduxPipelineOutput"),
        (f"{P}/flux2/__init__.py", 15, "Flux2PipelineOutput"),
        (f"{P}/glm_image/__init__.py", 16, "GlmImagePipelineOutput"),
        (f"{P}/hidream_image/__init__.py", 15, "HiDreamImagePipelineOutput"),
        (f"{P}/nucleusmoe_image/__init__.py", 15, "NucleusMoEImagePipelineOutput"),
        (f"{P}/qwenimage/__init__.py", 15, "QwenImagePipelineOutput"),
        (f"{P}/qwenimage/__init__.py", 15, "QwenImagePriorReduxPipelineOutput"),
        (f"{P}/qwenimage/__init__.py", 25, "ReduxImageEncoder"),
        (f"{P}/stable_diffusion/__init__.py", 79, "OnnxStableDiffusionInpaintPipelineLegacy"),
        (f"{P}/stable_diffusion_3/__init__.py", 15, "StableDiffusion3PipelineOutput"),
        (f"{P}/stable_diffusion_xl/__init__.py", 15, "StableDiffusionXLPipelineOutput"),
    },
    # Imported under TYPE_CHECKING but absent from `_import_structure`: a normal import never provides them.
    # ledits_pp lists "LEditsPPDiffusionPipelineOutput" twice where the second should be the Inversion output;
    # pixart_alpha's aspect-ratio tables and stable_diffusion_safe's classes exist only in the typing half.
    "structure-missing": {
        (f"{P}/__init__.py", 813, "LEditsPPDiffusionPipelineOutput"),
        (f"{P}/__init__.py", 814, "LEditsPPInversionPipelineOutput"),
        (f"{P}/deprecated/stable_diffusion_safe/__init__.py", 84, "SafeStableDiffusionSafetyChecker"),
        (f"{P}/ledits_pp/__init__.py", 39, "LEditsPPInversionPipelineOutput"),
        (f"{P}/pixart_alpha/__init__.py", 37, "ASPECT_RATIO_256_BIN"),
        (f"{P}/pixart_alpha/__init__.py", 38, "ASPECT_RATIO_512_BIN"),
        (f"{P}/pixart_alpha/__init__.py", 39, "ASPECT_RATIO_1024_BIN"),
        (f"{P}/pixart_alpha/__init__.py", 42, "ASPECT_RATIO_2048_BIN"),
    },
    # The two halves guard the name differently. For the top level that decides the dummy file: Blip and
    # CLIPImageProjection are imported in the torch block but registered under torch+transformers, so their
    # dummies claim only torch. The quantization configs use `not a and not b and not c` guards that differ from
    # their typing half. consisid, deprecated/ and schedulers/deprecated guard their halves differently.
    "backend-mismatch": {
        (TOP, 1042, "BitsAndBytesConfig"),
        (TOP, 1050, "GGUFQuantizationConfig"),
        (TOP, 1058, "TorchAoConfig"),
        (TOP, 1066, "QuantoConfig"),
        (TOP, 1074, "NVIDIAModelOptConfig"),
        (TOP, 1106, "SDNQConfig"),
        (TOP, 1349, "BlipDiffusionControlNetPipeline"),
        (TOP, 1350, "BlipDiffusionPipeline"),
        (TOP, 1351, "CLIPImageProjection"),
        (f"{P}/consisid/__init__.py", 36, "ConsisIDPipeline"),
        (f"{P}/deprecated/__init__.py", 148, "AudioDiffusionPipeline"),
        (f"{P}/deprecated/__init__.py", 148, "Mel"),
        (f"{P}/deprecated/__init__.py", 157, "SpectrogramDiffusionPipeline"),
        (f"{P}/deprecated/__init__.py", 172, "KarrasVePipeline"),
        ("src/diffusers/schedulers/deprecated/__init__.py", 35, "KarrasVeScheduler"),
        ("src/diffusers/schedulers/deprecated/__init__.py", 36, "ScoreSdeVpScheduler"),
    },
    # Top-level block vs the guard of the package that loads the name. Errors: the top level asks for fewer
    # backends than the package (LDMSuperResolutionPipeline in the torch block, latent_diffusion guards
    # torch+transformers; MidiProcessor in note_seq alone). Warnings: the top level asks for more.
    "wrong-backend-block": {
        (TOP, 441, "LDMSuperResolutionPipeline"),
        (TOP, 967, "KolorsPAGPipeline"),
        (TOP, 982, "OnnxStableDiffusionImg2ImgPipeline"),
        (TOP, 983, "OnnxStableDiffusionInpaintPipeline"),
        (TOP, 985, "OnnxStableDiffusionPipeline"),
        (TOP, 986, "OnnxStableDiffusionUpscalePipeline"),
        (TOP, 987, "StableDiffusionOnnxPipeline"),
        (TOP, 1016, "SpectrogramDiffusionPipeline"),
        (TOP, 1030, "MidiProcessor"),
    },
    # The top level exports it, pipelines/__init__.py does not register it (and its module is gone, below).
    "subpackage-missing": {
        (TOP, 984, "OnnxStableDiffusionInpaintPipelineLegacy"),
        (TOP, 1861, "OnnxStableDiffusionInpaintPipelineLegacy"),
    },
    # Registered from a module that does not define it: the classes are CogView3PipelineOutput,
    # CogView4PipelineOutput, QwenImagePipelineOutput only, SafeStableDiffusionSafetyChecker.
    "name-not-defined": {
        (f"{P}/cogview3/__init__.py", 15, "CogView3PlusPipelineOutput"),
        (f"{P}/cogview4/__init__.py", 15, "CogView4PlusPipelineOutput"),
        (f"{P}/deprecated/stable_diffusion_safe/__init__.py", 70, "StableDiffusionSafetyChecker"),
        (f"{P}/qwenimage/__init__.py", 15, "QwenImagePriorReduxPipelineOutput"),
    },
    # Keys pointing at files that do not exist (removed or renamed modules).
    "module-missing": {
        (f"{P}/deprecated/spectrogram_diffusion/__init__.py", 24, "SpectrogramContEncoder"),
        (f"{P}/qwenimage/__init__.py", 25, "ReduxImageEncoder"),
        (f"{P}/stable_diffusion/__init__.py", 79, "OnnxStableDiffusionInpaintPipelineLegacy"),
    },
    # The same name twice in one half of one init (same list, or two guard blocks).
    "duplicate": {
        (TOP, 830, "SanaVideoPipeline"),
        (TOP, 856, "StableDiffusion3PAGImg2ImgPipeline"),
        (TOP, 954, "ConsisIDPipeline"),
        (TOP, 1561, "CLIPImageProjection"),
        (TOP, 1850, "ConsisIDPipeline"),
        (f"{P}/__init__.py", 550, "ConsisIDPipeline"),
        (f"{P}/deprecated/__init__.py", 172, "KarrasVePipeline"),
        (f"{P}/deprecated/__init__.py", 196, "AudioDiffusionPipeline"),
        (f"{P}/deprecated/__init__.py", 196, "Mel"),
        (f"{P}/deprecated/__init__.py", 206, "SpectrogramDiffusionPipeline"),
        (f"{P}/deprecated/spectrogram_diffusion/__init__.py", 27, "SpectrogramContEncoder"),
        (f"{P}/ledits_pp/__init__.py", 27, "LEditsPPDiffusionPipelineOutput"),
    },
    # The two halves import the name from different modules.
    "key-mismatch": {
        (f"{P}/deprecated/spectrogram_diffusion/__init__.py", 52, "SpectrogramNotesEncoder"),
        (f"{P}/ledits_pp/__init__.py", 38, "LEditsPPDiffusionPipelineOutput"),
        (f"{P}/stable_diffusion/__init__.py", 94, "StableDiffusionPipelineOutput"),
    },
    # kolors: `not (is_transformers_available() and is_torch_available()) and is_sentencepiece_available()`
    # raises only when sentencepiece IS installed.
    "guard-malformed": {(f"{P}/kolors/__init__.py", 18, None), (f"{P}/kolors/__init__.py", 32, None)},
    # The onnx pipelines import torch at module level, but their guard is onnx+transformers.
    "guard-misses-backend": {
        (f"{P}/stable_diffusion/__init__.py", 74, "OnnxStableDiffusionPipeline"),
        (f"{P}/stable_diffusion/__init__.py", 75, "StableDiffusionOnnxPipeline"),
        (f"{P}/stable_diffusion/__init__.py", 77, "OnnxStableDiffusionImg2ImgPipeline"),
        (f"{P}/stable_diffusion/__init__.py", 78, "OnnxStableDiffusionInpaintPipeline"),
        (f"{P}/stable_diffusion/__init__.py", 80, "OnnxStableDiffusionUpscalePipeline"),
    },
    # Info: exported from a package init on the way down but not from `diffusers` itself.
    "partial-export": {
        ("src/diffusers/models/__init__.py", 92, "MultiControlNetUnionModel"),
        ("src/diffusers/models/__init__.py", 101, "DualTransformer2DModel"),
        (f"{P}/deprecated/__init__.py", 44, "AltDiffusionPipelineOutput"),
        ("src/diffusers/schedulers/__init__.py", 40, "ScoreSdeVpScheduler"),
    },
    # Info: hand-kept dummy files upstream's generator cannot write (their TYPE_CHECKING blocks share the
    # `torch` key with the main torch block, which replaces them).
    "dummy-unmanaged": {
        ("src/diffusers/utils/dummy_bfl_objects.py", None, "BFLQuantizationConfig"),
        ("src/diffusers/utils/dummy_nunchaku_lite_objects.py", None, "NunchakuLiteQuantizationConfig"),
    },
}


@pytest.fixture(scope="module")
def pristine_report(diffusers_tree):
    return check_registration(Checkout.find(diffusers_tree), max_findings=10_000)


def test_every_finding_on_the_release_is_a_known_upstream_inconsistency(pristine_report):
    found: dict[str, set] = defaultdict(set)
    for finding in pristine_report.findings:
        found[finding.code].add((finding.path, finding.line, finding.name))
    assert dict(found) == EXPECTED
    assert pristine_report.total == sum(len(items) for items in EXPECTED.values())
    assert not pristine_report.ok
    # No dummy file is missing, stale or carries an extra object: the generator agrees with upstream's.
    assert not {code for code in found if code.startswith("dummy-") and code != "dummy-unmanaged"}


def test_the_report_stays_small_for_an_llm(diffusers_tree):
    report = check_registration(Checkout.find(diffusers_tree), max_findings=5)
    assert len(report.findings) == 5 and report.truncated and report.total > 5
    assert sum(report.counts.values()) == report.total
    assert all(finding.severity == "error" for finding in report.findings)  # errors come first
    assert len(report.model_dump_json()) < 6_000
    only = check_registration(Checkout.find(diffusers_tree), names=["StableCascadeUNet"])
    assert [(f.code, f.line) for f in only.findings] == [("typing-missing", 377)]
    assert only.findings[0].auto_fixable


# ------------------------------------------------------------------------------------------ planted faults


def _edit(checkout: Checkout, rel: str, old: str, new: str, count: int = 1) -> int:
    """Replaces `old` in the file; returns the 1-based line where it was."""
    path = checkout.package_dir / rel
    text = path.read_text()
    assert text.count(old) >= count, (rel, old)
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, count))
    return line


def _found(checkout: Checkout, names: list[str]) -> set[tuple[str, str, int | None]]:
    return {(f.code, f.path, f.line) for f in check_registration(checkout, names=names).findings}


def test_the_z_image_bug_a_dropped_typing_entry_is_found_and_fixed(checkout):
    # Z-Image (PR #12703): ZImageTransformer2DModel in `_import_structure` but not under TYPE_CHECKING.
    _edit(checkout, "__init__.py", "            ZImageTransformer2DModel,\n", "")
    dummy_line = (
        (checkout.package_dir / "utils/dummy_pt_objects.py")
        .read_text()
        .split("\n")
        .index("class ZImageTransformer2DModel(metaclass=DummyObject):")
    )
    # Upstream's generator would now drop the dummy: the file still has it, which no longer matches.
    assert _found(checkout, ["ZImageTransformer2DModel"]) == {
        ("typing-missing", TOP, 397),
        ("dummy-extra", "src/diffusers/utils/dummy_pt_objects.py", dummy_line + 1),
    }
    spec = SymbolSpec(name="ZImageTransformer2DModel", module="diffusers.models.transformers.transformer_z_image")
    result = register_names(checkout, [spec])
    assert {change.path for change in result.changes} == {TOP}
    assert _found(checkout, ["ZImageTransformer2DModel"]) == set()
    assert run_git(checkout.root, "diff", "--stat").strip() == ""  # upstream's bytes, exactly


def test_a_dropped_dummy_is_found_where_it_belongs(checkout):
    dummy = "utils/dummy_pt_objects.py"
    text = (checkout.package_dir / dummy).read_text()
    start = text.index("class ZImageTransformer2DModel(")
    end = text.index("\n\n\n", start) + 3
    (checkout.package_dir / dummy).write_text(text[:start] + text[end:])
    following = text[:start].count("\n") + 1  # the next entry now starts where the dropped one did
    assert _found(checkout, ["ZImageTransformer2DModel"]) == {
        ("dummy-missing", "src/diffusers/utils/dummy_pt_objects.py", following)
    }
    spec = SymbolSpec(name="ZImageTransformer2DModel", module="diffusers.models.transformers.transformer_z_image")
    register_names(checkout, [spec])
    assert (checkout.package_dir / dummy).read_text() == text


def test_an_unsorted_list_is_found_at_the_name_out_of_order(checkout):
    line = _edit(
        checkout,
        "__init__.py",
        '            "WanVACETransformer3DModel",\n            "ZImageControlNetModel",\n',
        '            "ZImageControlNetModel",\n            "WanVACETransformer3DModel",\n',
    )
    assert ("unsorted-list", TOP, line + 1) in _found(checkout, ["WanVACETransformer3DModel"])
    family_line = _edit(
        checkout,
        "models/transformers/__init__.py",
        "    from .transformer_wan_vace import WanVACETransformer3DModel\n"
        "    from .transformer_z_image import ZImageTransformer2DModel\n",
        "    from .transformer_z_image import ZImageTransformer2DModel\n"
        "    from .transformer_wan_vace import WanVACETransformer3DModel\n",
    )
    assert ("unsorted-list", "src/diffusers/models/transformers/__init__.py", family_line + 1) in _found(
        checkout, ["WanVACETransformer3DModel"]
    )
    # Registering a name of the list sorts it again (statement order is ruff's job: not auto-fixable).
    findings = check_registration(checkout, names=["WanVACETransformer3DModel"]).findings
    assert [(f.path, f.auto_fixable) for f in findings if f.code == "unsorted-list"] == [
        (TOP, True),
        ("src/diffusers/models/transformers/__init__.py", False),
    ]
    spec = SymbolSpec(name="WanVACETransformer3DModel", module="diffusers.models.transformers.transformer_wan_vace")
    register_names(checkout, [spec])
    assert run_git(checkout.root, "diff", "--name-only").split() == ["src/diffusers/models/transformers/__init__.py"]


def test_a_name_in_the_wrong_backend_block_is_found(checkout):
    # Move ZImagePipeline from the torch+transformers blocks into the torch-only blocks, in both halves.
    _edit(checkout, "__init__.py", '            "ZImagePipeline",\n', "")
    _edit(checkout, "__init__.py", "            ZImagePipeline,\n", "")
    structure = _edit(
        checkout,
        "__init__.py",
        '            "StableDiffusionMixin",\n        ]\n    )\n    _import_structure["quantizers"]',
        '            "StableDiffusionMixin",\n            "ZImagePipeline",\n        ]\n    )\n'
        '    _import_structure["quantizers"]',
    )
    _edit(
        checkout,
        "__init__.py",
        "            StableDiffusionMixin,\n        )\n        from .quantizers import DiffusersQuantizer",
        "            StableDiffusionMixin,\n            ZImagePipeline,\n        )\n"
        "        from .quantizers import DiffusersQuantizer",
    )
    found = _found(checkout, ["ZImagePipeline"])
    # The block disagrees with the z_image package's own guard; the dummies no longer match either.
    assert {(code, line) for code, path, line in found if path == TOP} == {("wrong-backend-block", structure + 1)}
    assert {(code, path) for code, path, _ in found if path != TOP} == {
        ("dummy-missing", "src/diffusers/utils/dummy_pt_objects.py"),
        ("dummy-extra", "src/diffusers/utils/dummy_torch_and_transformers_objects.py"),
    }
    # register_lazy_import moves it back (both halves) and regenerates both dummy files.
    spec = SymbolSpec(name="ZImagePipeline", module="diffusers.pipelines.z_image.pipeline_z_image")
    register_names(checkout, [spec])
    assert _found(checkout, ["ZImagePipeline"]) == set()
    assert run_git(checkout.root, "diff", "--stat").strip() == ""


# ------------------------------------------------------------------------------------------ real behaviour


@pytest.mark.slow
def test_runtime_findings_are_real_in_a_fresh_interpreter(diffusers_tree):
    """The consequences the findings predict, observed in the released package itself."""
    probe = (
        "import importlib, os, sys\n"
        "import diffusers\n"
        "if os.environ.get('DIFFUSERS_SLOW_IMPORT'):\n"
        "    missing = [n for n in ['FromOriginalModelMixin', 'is_inflect_available', 'logging',\n"
        "               'StableCascadeUNet'] if not hasattr(diffusers, n)]\n"
        "    flux = importlib.import_module('diffusers.pipelines.flux')\n"
        "    print('slow', missing, hasattr(flux, 'FluxPipelineOutput'))\n"
        "elif os.environ.get('USE_TORCH') == '0':\n"
        "    try:\n"
        "        from diffusers import StableCascadeUNet\n"
        "        print('no-torch', 'imported')\n"
        "    except ImportError:\n"
        "        print('no-torch', 'ImportError')\n"
        "else:\n"
        "    pixart = importlib.import_module('diffusers.pipelines.pixart_alpha')\n"
        "    try:\n"
        "        from diffusers.pipelines.cogview3 import CogView3PlusPipelineOutput\n"
        "        ok = True\n"
        "    except ImportError:\n"
        "        ok = False\n"
        "    print('lazy', hasattr(pixart, 'ASPECT_RATIO_256_BIN'), ok)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(diffusers_tree / "src")}
    runs = {
        "slow": {"DIFFUSERS_SLOW_IMPORT": "1"},
        "no-torch": {"USE_TORCH": "0"},
        "lazy": {},
    }
    out = {}
    for label, extra in runs.items():
        done = subprocess.run(
            [sys.executable, "-c", probe], env={**env, **extra}, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        out[label] = done.stdout.strip().splitlines()[-1]
    assert (
        out["slow"] == "slow ['FromOriginalModelMixin', 'is_inflect_available', 'logging', 'StableCascadeUNet'] False"
    )
    assert out["no-torch"] == "no-torch ImportError"  # no dummy for StableCascadeUNet
    assert out["lazy"] == "lazy False False"
