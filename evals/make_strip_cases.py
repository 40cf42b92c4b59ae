"""Writes the strip-and-restore eval cases (`evals/cases/strip-*/case.yaml`) from one table, so they stay alike.

Run it by hand after changing the table or the turns (no test runs it); it needs the upstream clone:

    source .ci/diffusers-clone.sh && .venv/bin/python evals/make_strip_cases.py [--only strip-transformer-flux]

Each case removes one integration from upstream's main (its module files and its tests: `base.strip`, which also
unregisters the public names the removed modules define), then the recorded turns restore it as an agent
would: look at the checkout, ask the human, have the plan approved, write every removed file back as upstream
has it (`content_from_base`: the case names paths, never holds upstream's code), register the names with
`register_lazy_import`, check the registration and run `make_quality`. The end state expected: the files back,
the names registered cleanly, every init and dummy file the strip touched byte for byte as upstream wrote it
(unless the table says why ours may differ), and upstream's own tests for the integration passing (they fail
on the stripped tree: SWE-bench's fail-to-pass).

The table is built from what runs here: model tests built from configs, scheduler tests, and the pipeline and
modular tests that need nothing from the Hub (HF_HUB_OFFLINE=1) and no test extras this project does not pin
(`parameterized` and `requests_mock` keep upstream's older pipeline and model tests out).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from diffusers_integrator.checkout import Checkout
from diffusers_integrator.evals.base import strip, stripped_files, stripped_names, unpack_clone
from diffusers_integrator.evals.cases import CASE_FILE, cases_dir
from diffusers_integrator.testing.trees import copy_tree


UPSTREAM = "main at 58eb52c (0.40.0.dev0)"
SRC = "src/diffusers"


@dataclass
class Strip:
    """One integration to strip and restore."""

    id: str
    family: str  # transformer, autoencoder, scheduler, pipeline, modular
    what: str  # "the Z-Image transformer", for the prompt and the plan
    model_name: str  # the plan's model name
    strip: list[str]  # module files or package folders, and their tests, relative to the root
    tests: list[str] = field(default_factory=list)  # what must pass; default: the stripped test paths
    differs: dict[str, str] = field(default_factory=dict)  # file -> why ours may be laid out unlike upstream's
    comment: str = ""  # a line for the case file: anything a reviewer must know
    faults: list[str] = field(default_factory=list)  # faults of our tools the case exposes (see test_strip_cases)


def _model(id: str, family: str, what: str, model_name: str, module: str, test: str, **kw: Any) -> Strip:
    folder = {"transformer": "transformers", "autoencoder": "autoencoders"}[family]
    return Strip(
        id=f"strip-{family}-{id}",
        family=family,
        what=what,
        model_name=model_name,
        strip=[f"{SRC}/models/{folder}/{module}.py", f"tests/models/{folder}/{test}.py"],
        **kw,
    )


def _scheduler(id: str, what: str, model_name: str, module: str, test: str) -> Strip:
    return Strip(
        id=f"strip-scheduler-{id}",
        family="scheduler",
        what=what,
        model_name=model_name,
        strip=[f"{SRC}/schedulers/{module}.py", f"tests/schedulers/{test}.py"],
    )


def _pipeline(id: str, what: str, model_name: str, package: str, tests: str, **kw: Any) -> Strip:
    return Strip(
        id=f"strip-pipeline-{id}",
        family="pipeline",
        what=what,
        model_name=model_name,
        strip=[f"{SRC}/pipelines/{package}", f"tests/pipelines/{tests}"],
        **kw,
    )


def _modular(id: str, what: str, model_name: str, package: str, tests: list[str], **kw: Any) -> Strip:
    return Strip(
        id=f"strip-modular-{id}",
        family="modular",
        what=what,
        model_name=model_name,
        strip=[f"{SRC}/modular_pipelines/{package}", f"tests/modular_pipelines/{package}"],
        tests=tests,
        **kw,
    )


_WORKFLOW_ONLY = (
    "Only the workflow-map test: the modular package's other tests load tiny checkpoints from the Hub, and the "
    "evals run offline."
)
CASES: list[Strip] = [
    # Transformers: one module each, its model tests built from a config (tests/models/testing_utils).
    _model("z-image", "transformer", "the Z-Image transformer", "Z-Image", "transformer_z_image",
           "test_models_transformer_z_image"),
    _model("flux", "transformer", "the Flux transformer", "FLUX.1", "transformer_flux",
           "test_models_transformer_flux"),
    _model("wan", "transformer", "the Wan transformer", "Wan 2.1", "transformer_wan", "test_models_transformer_wan"),
    _model("qwenimage", "transformer", "the Qwen-Image transformer", "Qwen-Image", "transformer_qwenimage",
           "test_models_transformer_qwenimage"),
    _model("mochi", "transformer", "the Mochi transformer", "Mochi 1", "transformer_mochi",
           "test_models_transformer_mochi"),
    _model("lumina2", "transformer", "the Lumina-Image 2.0 transformer", "Lumina-Image 2.0", "transformer_lumina2",
           "test_models_transformer_lumina2"),
    _model("chroma", "transformer", "the Chroma transformer", "Chroma", "transformer_chroma",
           "test_models_transformer_chroma"),
    _model("hunyuan-video", "transformer", "the HunyuanVideo transformer", "HunyuanVideo",
           "transformer_hunyuan_video", "test_models_transformer_hunyuan_video"),
    # Autoencoders.
    _model("dc", "autoencoder", "the Deep Compression autoencoder (DC-AE)", "DC-AE", "autoencoder_dc",
           "test_models_autoencoder_dc"),
    _model("cogvideox", "autoencoder", "the CogVideoX 3D VAE", "CogVideoX", "autoencoder_kl_cogvideox",
           "test_models_autoencoder_kl_cogvideox"),
    _model("temporal-decoder", "autoencoder", "the temporal-decoder VAE of Stable Video Diffusion",
           "Stable Video Diffusion", "autoencoder_kl_temporal_decoder", "test_models_autoencoder_kl_temporal_decoder"),
    _model("magvit", "autoencoder", "the MAGVIT VAE of EasyAnimate", "EasyAnimate", "autoencoder_kl_magvit",
           "test_models_autoencoder_magvit"),
    _model("consistency-decoder", "autoencoder", "the consistency-decoder VAE", "Consistency Decoder",
           "consistency_decoder_vae", "test_models_consistency_decoder_vae"),
    # Schedulers.
    _scheduler("lcm", "the LCM scheduler", "Latent Consistency Models", "scheduling_lcm", "test_scheduler_lcm"),
    _scheduler("tcd", "the TCD scheduler", "Trajectory Consistency Distillation", "scheduling_tcd",
               "test_scheduler_tcd"),
    _scheduler("ipndm", "the iPNDM scheduler", "iPNDM", "scheduling_ipndm", "test_scheduler_ipndm"),
    _scheduler("flow-map-euler", "the flow-map Euler scheduler", "Flow map Euler", "scheduling_flow_map_euler_discrete",
               "test_scheduler_flow_map_euler_discrete"),
    # Pipelines: whole packages (their lazy init included) and their test folders.
    _pipeline("ddpm", "the DDPM pipeline", "DDPM", "ddpm", "ddpm"),
    _pipeline("pndm", "the (deprecated) PNDM pipeline", "PNDM", "deprecated/pndm", "pndm",
              differs={f"{SRC}/pipelines/__init__.py": "upstream's `_import_structure[\"deprecated\"].extend([...])` "
                       "list keeps no order (DanceDiffusion, PNDM, LDM, RePaint, ...): PNDMPipeline goes back in at "
                       "another place."}),
    _pipeline("llada2", "the LLaDA2 pipeline", "LLaDA2", "llada2", "llada2"),
    _pipeline("diffusion-gemma", "the DiffusionGemma pipeline", "DiffusionGemma", "diffusion_gemma",
              "diffusion_gemma"),
    # Modular pipelines: whole packages.
    _modular("z-image", "the Z-Image modular pipeline", "Z-Image", "z_image",
             ["tests/modular_pipelines/z_image/test_modular_pipeline_z_image.py::TestZImageModularPipelineWorkflow"
              "::test_workflow_map"], comment=_WORKFLOW_ONLY,
             differs={f"{SRC}/modular_pipelines/__init__.py": "upstream adds each package's `_import_structure` "
                      "statement where it was added in history (z_image last, the block keeps no order) and "
                      "explodes some short lists by hand: ours goes elsewhere in the block, on one line.",
                      f"{SRC}/modular_pipelines/modular_pipeline.py": "MODULAR_PIPELINE_MAPPING lists models in the "
                      "order they were added; a restored entry is appended at the end."}),
    _modular("krea2", "the Krea 2 modular pipelines (base and turbo)", "Krea 2", "krea2",
             ["tests/modular_pipelines/krea2/test_modular_pipeline_krea2.py::TestKrea2ModularPipelineWorkflow"
              "::test_workflow_map",
              "tests/modular_pipelines/krea2/test_modular_pipeline_krea2_turbo.py"
              "::TestKrea2TurboModularPipelineWorkflow::test_workflow_map"], comment=_WORKFLOW_ONLY,
             differs={f"{SRC}/modular_pipelines/__init__.py": "upstream explodes some TYPE_CHECKING imports that "
                      "fit on one line (`from .krea2 import (...)`, `.minimax_h3`) and not others (`.ltx`, `.ltx2`): "
                      "ours is written on one line."}),
    _modular("ernie-image", "the ERNIE-Image modular pipeline", "ERNIE-Image", "ernie_image",
             ["tests/modular_pipelines/ernie_image/test_modular_pipeline_ernie_image.py"
              "::TestErnieImageModularPipelineWorkflow::test_workflow_map"], comment=_WORKFLOW_ONLY,
             differs={f"{SRC}/modular_pipelines/__init__.py": "upstream explodes some two-name `_import_structure` "
                      "lists by hand (`ernie_image`, `ltx`) and not others (`stable_diffusion_xl`): ours is written "
                      "on one line."}),
]  # fmt: skip


# ------------------------------------------------------------------------------------------------ the turns


def _questions(spec: Strip) -> list[dict[str, Any]]:
    return [
        {
            "header": "Source",
            "question": f"Where should {spec.what} come from?",
            "options": [
                {"label": "Upstream main", "description": f"As upstream {UPSTREAM} has it", "recommended": True},
                {"label": "Another fork", "description": "Give me the repository and the commit"},
            ],
        },
        {
            "header": "Tests",
            "question": "Which tests should prove the restore?",
            "options": [
                {"label": "Upstream's tests", "description": "The integration's own tests from upstream main"},
                {"label": "New tests", "description": "Generate fresh tests for the restored classes"},
            ],
        },
    ]


def _kind(spec: Strip) -> str:
    return {"pipeline": "pipeline", "modular": "modular_blocks", "scheduler": "scheduler"}.get(spec.family, "model")


def turns(spec: Strip, restored: list[str], names: dict[str, str], touched: list[str]) -> list[dict[str, Any]]:
    """The recorded session: what an agent restoring the integration calls, in order."""
    plan_files = restored + touched
    components = [{"name": name, "kind": _kind(spec), "action": "add", "note": "as upstream"} for name in names]
    return [
        {"tool": "inspect_checkout"},
        {"tool": "ask_user_question", "arguments": {"questions": _questions(spec)}},
        {
            "tool": "record_answer",
            "arguments": {
                "question_set_id": {"$ref": "ask_user_question.question_set_id"},
                "answers": [
                    {"question_id": "q1", "selected": ["Upstream main"]},
                    {"question_id": "q2", "selected": ["Upstream's tests"]},
                ],
                "human_reply": "Upstream main, exactly as it is there, and upstream's own tests.",
            },
        },
        {
            "tool": "confirm_plan",
            "arguments": {
                "model_name": spec.model_name,
                "reference_repo": f"https://github.com/huggingface/diffusers ({UPSTREAM})",
                "reference_script": f"{spec.tests[0] if spec.tests else spec.strip[-1]} (upstream's tests)",
                "workflows": ["restore"],
                "pipeline_style": "modular" if spec.family == "modular" else "standard",
                "components": components,
                "files": plan_files,
                "parity": [
                    {
                        "target": f"restored {', '.join(names)} vs upstream main (its own tests)",
                        "metric": "max_abs_diff",
                        "threshold": 0.0,
                        "device": "cpu",
                        "dtype": "float32",
                    }
                ],
                "notes": "A restore of upstream's files: the registration is register_lazy_import's, not hand-edited.",
            },
        },
        {
            "tool": "record_answer",
            "arguments": {
                "plan_id": {"$ref": "confirm_plan.plan_id"},
                "plan_digest": {"$ref": "confirm_plan.plan_digest"},
                "verdict": "accept",
                "human_reply": "Accept.",
            },
        },
        *(
            {"tool": "edit_file", "arguments": {"command": "create", "path": rel, "content_from_base": rel}}
            for rel in restored
        ),
        {
            "tool": "register_lazy_import",
            "arguments": {"symbols": [{"name": name, "module": module} for name, module in names.items()]},
        },
        {"tool": "check_registration", "arguments": {"names": list(names), "max_findings": 50}},
        {"tool": "make_quality", "arguments": {"scope": "changed", "wait_s": 45.0}},
        {"say": f"Done: {spec.what} is back as upstream has it, registered, and upstream's tests pass."},
    ]


# ------------------------------------------------------------------------------------------------ the cases


def build_case(spec: Strip, base: Path, scratch: Path) -> dict[str, Any]:
    """The case for one table row: strips a copy of `base` to learn what the strip touches."""
    tree = copy_tree(base, scratch / spec.id)
    restored = stripped_files(tree, spec.strip)
    names = stripped_names(tree, restored)
    strip(Checkout.find(tree), spec.strip)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tree, capture_output=True, text=True, check=True)
    touched = sorted(
        line[3:] for line in status.stdout.splitlines() if line[3:] not in restored and not line.endswith("/")
    )
    gone = [rel for rel in restored if (tree / rel).exists()]
    if gone or not names:
        raise SystemExit(f"{spec.id}: strip left {gone} or found no names")
    tests = spec.tests or [rel for rel in spec.strip if rel.startswith("tests/")]
    spec.tests = tests
    failing = _run_tests_on_stripped(tree, base, [rel for rel in restored if rel.startswith("tests/")], tests)
    if failing.returncode == 0:
        raise SystemExit(f"{spec.id}: upstream's tests pass on the stripped tree; they prove nothing")
    stale = sorted(set(spec.differs) - set(touched))
    if stale:
        raise SystemExit(f"{spec.id}: `differs` names files the strip does not touch: {stale}")
    lines = [line for line in (failing.stdout + failing.stderr).splitlines() if line.strip()]
    print(f"{spec.id}: on the stripped tree, upstream's tests fail: {lines[-1] if lines else failing.returncode}")
    data: dict[str, Any] = {
        "id": spec.id,
        "title": f"Strip and restore: {spec.what} ({spec.family})",
        "kind": "strip-restore",
        "base": {"source": "clone", "strip": spec.strip},
        "prompt": f"{spec.what[0].upper()}{spec.what[1:]} is missing from this diffusers checkout. Restore it as "
        f"upstream main has it: the code, its registration and upstream's tests.",
        "turns": turns(spec, restored, names, touched),
        "expect": {
            "files": restored,
            "names": list(names),
            "same_as_base": [rel for rel in touched if rel not in spec.differs],
            **(
                {"equivalent_to_base": {rel: spec.differs[rel] for rel in touched if rel in spec.differs}}
                if spec.differs
                else {}
            ),
            "tests": tests,
        },
    }
    return data


def _run_tests_on_stripped(
    tree: Path, base: Path, test_files: list[str], tests: list[str]
) -> subprocess.CompletedProcess:
    """Upstream's tests, put back on the stripped tree alone: the fail half of fail-to-pass."""
    for rel in test_files:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / rel, tree / rel)
    environment = {**os.environ, "PYTHONPATH": str(tree / "src"), "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    return subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True, timeout=600)


def write_case(spec: Strip, data: dict[str, Any], root: Path) -> Path:
    folder = root / spec.id
    folder.mkdir(parents=True, exist_ok=True)
    header = [
        "# Generated by evals/make_strip_cases.py: edit the table there and run it again, not this file.",
        f"# {spec.family}: strips {', '.join(spec.strip)}; upstream's tests must pass after the restore.",
    ]
    header += [f"# {spec.comment}"] if spec.comment else []
    header += [f"# Fault of ours it exposes (the case fails until it is fixed): {fault}" for fault in spec.faults]
    header += [f"# {rel} may differ from upstream's text: {why}" for rel, why in spec.differs.items()]
    text = "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False, width=118, allow_unicode=True)
    (folder / CASE_FILE).write_text(text, encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", default=[], help="only these case ids")
    parser.add_argument("--into", type=Path, default=None, help="cases folder (default: evals/cases)")
    args = parser.parse_args(argv)
    chosen = [spec for spec in CASES if not args.only or spec.id in args.only]
    root = args.into or cases_dir()
    with tempfile.TemporaryDirectory(prefix="strip-cases-") as scratch:
        base = Path(scratch) / "base" / "diffusers"
        unpack_clone(base)
        for spec in chosen:
            data = build_case(spec, base, Path(scratch))
            folder = write_case(spec, data, root)
            print(f"{folder.name}: {len(data['expect']['files'])} files, names {', '.join(data['expect']['names'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
