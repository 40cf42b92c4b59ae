"""`scaffold`: lays down every file of a new integration, then registers its public names.

The order is fixed so a failure leaves nothing half-done: derive names, render every file in memory, refuse
collisions, then write (create-only) and register; if registration fails, the files written by this call are
removed again. Rendering is pure, so a second identical call finds every file unchanged and writes nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from dataclasses import dataclass, field

from ..checkout import Checkout, FileChange
from ..errors import IntegratorError
from ..progress import ProgressFn
from ..redact import Scrubber, safe_file_name
from . import configs, edits
from .checklist import build_checklist
from .collisions import check_collisions
from .model_tests import UPSTREAM_GENERATOR, generate_with_upstream
from .names import IMAGE_CONDITIONED, ScaffoldNames, derive_names
from .registration import lora_registration_is_safe, register
from .render import license_header, render
from .schema import ScaffoldedFile, ScaffoldRequest, ScaffoldResult


TASK_TITLES = {
    "text2image": "Text-to-image",
    "image2image": "Image-to-image",
    "text2video": "Text-to-video",
    "image2video": "Image-to-video",
}
TOCTREE = "docs/source/en/_toctree.yml"
# The largest diff text returned inline; beyond it the diffs go to a file under .diffusers-integrator/.
INLINE_DIFF_BUDGET = 60_000


@dataclass
class _Layout:
    creates: dict[str, str] = field(default_factory=dict)  # root-relative path -> content
    edits: dict[str, str] = field(default_factory=dict)  # root-relative path -> new content of an existing file
    purposes: dict[str, str] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)  # checklist role -> paths
    skipped: list[str] = field(default_factory=list)
    toc_entries: list[tuple[list[str], str, str]] = field(default_factory=list)  # (section path, local, title)
    lora_class: str = ""  # the LoRA mixin's class text, inserted into loaders/lora_pipeline.py

    def create(self, path: str, content: str, purpose: str, role: str | None = None) -> None:
        self.creates[path] = content
        self.purposes[path] = purpose
        if role:
            self.roles.setdefault(role, []).append(path)


def scaffold(checkout: Checkout, request: ScaffoldRequest, progress: ProgressFn | None = None) -> ScaffoldResult:
    """Scaffolds the integration `request` describes in `checkout` (or, under `dry_run`, shows it).

    Reading the tree, planning every file and registration and writing them is one step under the checkout's
    writer lock, whichever edge calls it: two scaffolds at once (a server and the CLI, say) must not both edit
    the inits as they were before either wrote.
    """
    with contextlib.nullcontext() if request.dry_run else checkout.writing():
        return _scaffold(checkout, request, progress)


def _scaffold(checkout: Checkout, request: ScaffoldRequest, progress: ProgressFn | None) -> ScaffoldResult:
    report = progress or (lambda done, total, message: None)
    names = derive_names(
        request.model_name,
        dims=request.dims,
        tasks=request.tasks,
        pipeline=request.pipeline,
        components=request.component,
        custom_scheduler=request.custom_scheduler,
        lora=request.lora,
    )
    tasks = [p.task for p in names.pipelines] or _tasks(request)
    _check_checkout_supports(checkout, request)

    report(1, 4, "rendering files")
    lora_rel = f"{checkout.package_rel}/loaders/lora_pipeline.py"
    lora_class, lora_registrable = "", False
    if names.lora_mixin:
        lora_class = edits.render_lora_mixin(
            checkout.read_text(lora_rel), names.lora_mixin, names.transformer, [p.class_name for p in names.pipelines]
        )
        lora_registrable = lora_registration_is_safe(checkout, names, lora_class)
    layout = _render(checkout, request, names, tasks, lora_registrable)
    layout.lora_class = lora_class
    if names.lora_mixin and not lora_registrable:
        layout.skipped.append(
            f"{names.lora_mixin} is not registered in loaders/__init__.py: that init has no block for the "
            "`lora_pipeline` mixins here; the pipelines import it from loaders.lora_pipeline."
        )
    check_collisions(checkout, names, layout.creates, {lora_rel: lora_class} if lora_class else None)
    _layout_edits(checkout, names, layout)

    report(2, 4, "writing files" if not request.dry_run else "computing diffs")
    written: list[FileChange] = []
    previous = {path: checkout.read_text(path) for path in layout.edits}
    try:
        written = checkout.write_files(layout.creates, dry_run=request.dry_run, create_only=True)
        written += checkout.write_files(layout.edits, dry_run=request.dry_run)
        report(3, 4, "registering names")
        reg_changes, registered, reg_summary = register(
            checkout, names, {**layout.creates, **layout.edits}, dry_run=request.dry_run, include_lora=lora_registrable
        )

    except BaseException:
        if not request.dry_run:
            _roll_back(checkout, written, previous)
        raise

    files = [
        ScaffoldedFile(path=change.path, purpose=layout.purposes.get(change.path, ""), action=change.action)
        for change in written
    ]
    changes = [change for change in written + reg_changes if change.action != "unchanged"]
    roles = {role: " ".join(paths) for role, paths in layout.roles.items()}
    checklist = build_checklist(
        names,
        roles,
        tasks=tasks,
        custom_scheduler=request.custom_scheduler,
        lora=request.lora,
        lora_registered=lora_registrable,
    )

    report(4, 4, "done")
    return ScaffoldResult(
        dry_run=request.dry_run,
        names=names,
        files=files,
        registered=registered,
        registration_summary=reg_summary,
        skipped=layout.skipped,
        checklist=checklist,
        changes=changes,
        summary=_summary(request, files, registered, changes),
    )


def compact_result(checkout: Checkout, result: ScaffoldResult, budget: int = INLINE_DIFF_BUDGET) -> ScaffoldResult:
    """Moves long diffs to a file under the state dir, so a tool result stays small enough for any client."""
    total = sum(len(change.diff) for change in result.changes)
    if total <= budget:
        return result
    folder = checkout.state_dir / "scaffold"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "-dry-run" if result.dry_run else ""
    # A working file like any other: neither its name nor its text may carry a secret.
    target = folder / safe_file_name(f"{result.names.snake}{suffix}.diff", f"scaffold{suffix}.diff")
    target.write_text(Scrubber().text("".join(change.diff for change in result.changes)), encoding="utf-8")
    slim = [change.model_copy(update={"diff": ""}) for change in result.changes]
    return result.model_copy(update={"changes": slim, "diff_file": checkout.rel(target)})


# ------------------------------------------------------------------------------------------ rendering


def _tasks(request: ScaffoldRequest) -> list[str]:
    from .names import validate_tasks

    return validate_tasks(request.dims, request.tasks)


def _check_checkout_supports(checkout: Checkout, request: ScaffoldRequest) -> None:
    """The templates use APIs of recent diffusers; say so plainly on an older tree."""
    package = checkout.package_dir
    needs = {
        "models/attention_dispatch.py": "dispatch_attention_fn",
        "models/attention.py": "class AttentionModuleMixin",
    }
    if request.pipeline in ("modular", "both"):
        needs["modular_pipelines/modular_pipeline_utils.py"] = "def template("
    if request.lora:
        needs["utils/__init__.py"] = "apply_lora_scale"
    missing = []
    for rel, marker in needs.items():
        path = package / rel
        if not path.is_file() or marker not in path.read_text(encoding="utf-8"):
            missing.append(f"`{marker}` in {rel}")
    if missing:
        raise IntegratorError(
            f"This diffusers tree ({checkout.diffusers_version() or 'unknown version'}) lacks what the scaffold "
            f"generates code for: {', '.join(missing)}.",
            "Rebase the checkout on a recent diffusers main (0.36 or later), then scaffold again.",
        )


def _render(
    checkout: Checkout, request: ScaffoldRequest, names: ScaffoldNames, tasks: list[str], lora_registered: bool
) -> _Layout:
    layout = _Layout()
    pkg = checkout.package_rel
    dims = request.dims
    year = datetime.date.today().year
    common = {
        "n": names,
        "dims": dims,
        "lora": request.lora,
        "license": license_header(year),
        "year": year,
        "per_prompt": "images" if dims == "2d" else "videos",
        "vae_class": names.autoencoder or ("AutoencoderKL" if dims == "2d" else "AutoencoderKLWan"),
        "scheduler_class": names.scheduler or "FlowMatchEulerDiscreteScheduler",
        # Where pipelines import the LoRA mixin from: the package when it is registered there, else its module.
        "lora_module": "loaders" if lora_registered else "loaders.lora_pipeline",
    }
    uncond = next((task for task in tasks if task not in IMAGE_CONDITIONED), None)
    cond = next((task for task in tasks if task in IMAGE_CONDITIONED), None)
    common.update(uncond_task=uncond, cond_task=cond, titles=TASK_TITLES)
    tiny = configs.tiny_transformer_config(dims)
    tiny_py = {key: py(value) for key, value in tiny.items()}

    model_source = ""
    if names.transformer:
        model_rel = f"{pkg}/models/transformers/{names.transformer_module}.py"
        defaults = {key: py(value) for key, value in configs.transformer_defaults(dims).items()}
        model_source = render("transformer.py.j2", defaults=defaults, **common)
        layout.create(
            model_rel,
            model_source,
            "The transformer: attention processor + attention module (dispatch_attention_fn), RoPE, DiT blocks "
            "with adaLN modulation, and the ModelMixin/ConfigMixin model class.",
            "transformer",
        )
    if names.autoencoder:
        layout.create(
            f"{pkg}/models/autoencoders/{names.autoencoder_module}.py",
            render("autoencoder.py.j2", defaults=_py_dict(configs.autoencoder_defaults(dims)), **common),
            "The autoencoder: a KL VAE the pipelines use to map pixels to latents and back.",
            "autoencoder",
        )
    if names.scheduler:
        layout.create(
            f"{pkg}/schedulers/{names.scheduler_module}.py",
            render("scheduler.py.j2", **common),
            "The model's own flow-matching scheduler (set_timesteps, scale_noise, step).",
            "scheduler",
        )

    call = configs.tiny_call_kwargs(dims)
    upstream_tests = upstream_test_layout(checkout)
    test_context = {
        "tiny": tiny_py,
        "vae": {key: py(value) for key, value in _tiny_vae(names, dims).items()},
        "text_encoder": {key: py(value) for key, value in configs.tiny_text_encoder_config().items()},
        "vocab_words": " ".join(configs.TINY_VOCAB_WORDS),
        "call": call,
        "latent": _latent_size(dims, call, bool(names.autoencoder)),
    }
    if names.pipelines:
        folder = f"{pkg}/pipelines/{names.pipeline_package}"
        layout.create(
            f"{folder}/pipeline_output.py",
            render("pipeline_output.py.j2", **common),
            f"`{names.pipeline_output}`, the output dataclass of the standard pipelines.",
        )
        for pipeline in names.pipelines:
            conditioned = pipeline.task in IMAGE_CONDITIONED
            layout.create(
                f"{folder}/{pipeline.module}.py",
                render(
                    "pipeline.py.j2",
                    p=pipeline,
                    task=pipeline.task,
                    conditioned=conditioned,
                    task_title=TASK_TITLES[pipeline.task].lower(),
                    **common,
                ),
                f"`{pipeline.class_name}`, the standard {TASK_TITLES[pipeline.task].lower()} pipeline.",
                "pipelines",
            )
            imports = sorted({pipeline.class_name, names.transformer, common["vae_class"], common["scheduler_class"]})
            test_dir = f"tests/pipelines/{names.pipeline_package}"
            if upstream_tests["pipelines"]:
                required = ["prompt", "negative_prompt", "height", "width", "guidance_scale"]
                required += ["prompt_embeds", "negative_prompt_embeds"] + (["image"] if conditioned else [])
                layout.create(
                    f"{test_dir}/{pipeline.test_module.replace('test_', 'test_pipeline_', 1)}.py",
                    render(
                        "tests/upstream/test_pipeline.py.j2",
                        p=pipeline,
                        task=pipeline.task,
                        conditioned=conditioned,
                        imports=imports,
                        required_params=_frozenset_literal(required, indent=4),
                        per_sample_shape=_per_sample_shape(dims, call),
                        latent_shape=_latent_shape(dims, tiny, call, bool(names.autoencoder)),
                        **test_context,
                        **common,
                    ),
                    f"Tests of `{pipeline.class_name}` in upstream's layout: a `BasePipelineTesterConfig` (tiny real "
                    "components built in code) composed with `PipelineTesterMixin` and `MemoryTesterMixin`.",
                    "tests",
                )
            else:
                layout.create(
                    f"{test_dir}/{pipeline.test_module}.py",
                    render(
                        "tests/test_pipeline.py.j2",
                        p=pipeline,
                        task=pipeline.task,
                        conditioned=conditioned,
                        imports=imports,
                        **test_context,
                        **common,
                    ),
                    f"Fast tests of `{pipeline.class_name}` on tiny components built in code (shape, latent output, "
                    "determinism, callbacks, save/load" + (", LoRA" if request.lora else "") + ").",
                    "tests",
                )
        if not upstream_tests["pipelines"]:
            layout.skipped.append(
                "tests/pipelines/testing_utils (BasePipelineTesterConfig) is not in this checkout: the pipeline tests "
                "are the scaffold's self-contained ones, not upstream's config + tester-mixin layout."
            )
        _test_package_init(checkout, layout, test_dir)

    if names.modular_pipeline:
        folder = f"{pkg}/modular_pipelines/{names.modular_package}"
        modular = {
            "modular_pipeline.py": (
                "modular/modular_pipeline.py.j2",
                f"`{names.modular_pipeline}` (the pipeline class with the model's properties).",
            ),
            "encoders.py": (
                "modular/encoders.py.j2",
                "Text encoder step" + (" and VAE encoder step" if cond else "") + ".",
            ),
            "before_denoise.py": ("modular/before_denoise.py.j2", "Input, timesteps and latents preparation steps."),
            "denoise.py": ("modular/denoise.py.j2", "The denoising loop blocks, with guidance through the guider."),
            "decoders.py": ("modular/decoders.py.j2", "The VAE decoder step (skipped for output_type='latent')."),
            f"{names.modular_blocks_module}.py": (
                "modular/modular_blocks.py.j2",
                f"`{names.modular_blocks}`: the assembled blocks and their workflows.",
            ),
        }
        tasks_title = " and ".join(TASK_TITLES[task].lower() for task in tasks)
        for filename, (template, purpose) in modular.items():
            content = render(
                template,
                uncond_title=TASK_TITLES[uncond].lower() if uncond else "",
                cond_title=TASK_TITLES[cond].lower() if cond else "",
                tasks_title=tasks_title,
                **common,
            )
            role = {"encoders.py": "modular_encoders", "modular_pipeline.py": "modular"}.get(filename, "modular_loop")
            if filename.startswith("modular_blocks_"):
                role = "modular"
            layout.create(f"{folder}/{filename}", content, purpose, role)
        output_name = "images" if dims == "2d" else "videos"
        modular_test = f"tests/modular_pipelines/{names.modular_package}/test_modular_pipeline_{names.snake}.py"
        if upstream_tests["modular"]:
            standard = next((p.class_name for p in names.pipelines if p.task not in IMAGE_CONDITIONED), None)
            imports = {names.modular_blocks, names.modular_pipeline, names.transformer, common["vae_class"]}
            imports |= {common["scheduler_class"], *([standard, "ModularPipeline"] if standard else [])}
            layout.create(
                modular_test,
                render(
                    "tests/upstream/test_modular.py.j2",
                    imports=sorted(imports),
                    output_name=output_name,
                    standard_pipeline=standard,
                    workflows_name=f"{names.snake.upper()}_WORKFLOWS",
                    expected_workflows=_expected_workflows(names, uncond, cond),
                    pt_output_shape=_pt_output_shape(dims, call),
                    **test_context,
                    **common,
                ),
                f"Tests of `{names.modular_pipeline}` in upstream's layout: a `BaseModularPipelineTesterConfig` on a "
                "tiny local repo saved from the dummy components, composed with the fast, loading, workflow, "
                "memory and guider tester mixins.",
                "tests",
            )
        else:
            layout.skipped.append(
                "tests/modular_pipelines/testing_utils (BaseModularPipelineTesterConfig) is not in this checkout: the "
                "modular tests are the scaffold's self-contained ones, not upstream's config + tester-mixin layout."
            )
            layout.create(
                modular_test,
                render(
                    "tests/test_modular.py.j2",
                    imports=sorted(
                        {
                            names.modular_blocks,
                            names.modular_pipeline,
                            names.transformer,
                            common["vae_class"],
                            common["scheduler_class"],
                        }
                    ),
                    output_name=output_name,
                    output_shape=_output_shape(dims, call),
                    latent_shape=_latent_shape(dims, tiny, call, bool(names.autoencoder)),
                    workflows=py(list(tasks)),
                    **test_context,
                    **common,
                ),
                f"Fast tests of `{names.modular_pipeline}`: every workflow, latent output and determinism.",
                "tests",
            )
        _test_package_init(checkout, layout, f"tests/modular_pipelines/{names.modular_package}")

    if names.transformer:
        module, source = names.transformer_module, model_source
        _model_tests(checkout, layout, "transformer", names.transformer, module, source, tiny_py, common)
    if names.autoencoder:
        module = names.autoencoder_module
        source = layout.creates[f"{pkg}/models/autoencoders/{module}.py"]
        tiny_vae = _py_dict(configs.tiny_autoencoder_config(dims))
        _model_tests(checkout, layout, "autoencoder", names.autoencoder, module, source, tiny_vae, common)

    layout.create(
        names.conversion_script,
        render(
            "convert.py.j2",
            defaults=_py_dict(configs.transformer_defaults(dims)),
            vae_defaults=_py_dict(configs.autoencoder_defaults(dims)),
            **common,
        ),
        "Weight conversion: the key-mapping table, with marked places for the fused-QKV split and the "
        "shift/scale order.",
        "conversion",
    )
    _docs(checkout, layout, names, common)
    return layout


def _model_tests(
    checkout: Checkout, layout: _Layout, kind: str, class_name: str, module: str, source: str, tiny: dict, common: dict
) -> None:
    """The model test file of the transformer or the autoencoder, via upstream's generator where it exists."""
    dims = common["dims"]
    folder = "transformers" if kind == "transformer" else "autoencoders"
    path = f"tests/models/{folder}/test_models_{module}.py"
    if kind == "transformer":
        input_shape, size = ("(4, 8, 8)", 8) if dims == "2d" else ("(4, 2, 8, 8)", 8)
    else:
        input_shape, size = ("(3, 16, 16)", 16) if dims == "2d" else ("(3, 3, 16, 16)", 16)
    config_body = render(
        "tests/model_tester_config.py.j2", kind=kind, tiny=tiny, input_shape=input_shape, size=size, **common
    ).rstrip("\n")
    if (checkout.root / UPSTREAM_GENERATOR).is_file():
        model_rel = f"src/diffusers/models/{folder}/{module}.py"
        content = generate_with_upstream(checkout, model_rel, source, config_body)
        purpose = f"Model tests written by the checkout's {UPSTREAM_GENERATOR}, with the tiny config filled in."
    else:
        stem = class_name.replace("2DModel", "").replace("3DModel", "").replace("Model", "")
        content = render(
            "tests/test_model.py.j2",
            kind=kind,
            model_class=class_name,
            subfolder="transformer" if kind == "transformer" else "vae",
            config_class=f"{stem}TesterConfig",
            test_stem=stem,
            config_body=config_body,
            **common,
        )
        purpose = (
            "Model tests on BaseModelTesterConfig + the tester mixins (they skip, saying why, where "
            "tests/models/testing_utils is missing)."
        )
        note = f"{UPSTREAM_GENERATOR} is not in this checkout: the model tests come from the scaffold's template."
        if note not in layout.skipped:
            layout.skipped.append(note)
    if not (checkout.root / "tests/models/testing_utils/__init__.py").is_file():
        note = "tests/models/testing_utils is missing here: the model tests skip with that reason outside a git clone."
        if note not in layout.skipped:
            layout.skipped.append(note)
    layout.create(path, content, purpose, "tests")


def _test_package_init(checkout: Checkout, layout: _Layout, folder: str) -> None:
    # Upstream test folders are packages; only add one where the parent is a package too (a git clone), so a
    # package-layout tree does not gain a top-level package named after the model.
    parent = folder.rsplit("/", 1)[0]
    if (checkout.root / parent / "__init__.py").is_file():
        layout.create(f"{folder}/__init__.py", "", "Makes the test folder a package, as upstream's are.", "tests")


def _docs(checkout: Checkout, layout: _Layout, names: ScaffoldNames, common: dict) -> None:
    if not (checkout.root / TOCTREE).is_file():
        layout.skipped.append(f"{TOCTREE} is missing (no docs/ in this checkout): no docs pages or toctree entries.")
        return
    entries = layout.toc_entries
    suffix = "transformer2d" if names.dims == "2d" else "transformer3d"
    if names.transformer:
        local = f"api/models/{names.snake}_{suffix}"
        layout.create(
            f"docs/source/en/{local}.md",
            render(
                "docs/model.md.j2",
                class_name=names.transformer,
                variable="transformer",
                subfolder="transformer",
                summary=f"A diffusion transformer for {'images' if names.dims == '2d' else 'videos'} from "
                f"{names.display_name}.",
                **common,
            ),
            f"API page of `{names.transformer}`.",
            "docs",
        )
        entries.append((["API", "Models", "Transformers"], local, names.transformer))
    if names.autoencoder:
        local = f"api/models/autoencoder_kl_{names.snake}"
        layout.create(
            f"docs/source/en/{local}.md",
            render(
                "docs/model.md.j2",
                class_name=names.autoencoder,
                variable="vae",
                subfolder="vae",
                summary=f"The variational autoencoder of {names.display_name}.",
                **common,
            ),
            f"API page of `{names.autoencoder}`.",
            "docs",
        )
        entries.append((["API", "Models", "VAEs"], local, names.autoencoder))
    if names.scheduler:
        local = f"api/schedulers/{names.snake}"
        layout.create(
            f"docs/source/en/{local}.md",
            render("docs/scheduler.md.j2", **common),
            f"API page of `{names.scheduler}`.",
            "docs",
        )
        entries.append((["API", "Schedulers"], local, names.scheduler))
    if names.pipelines or names.modular_pipeline:
        local = f"api/pipelines/{names.snake}"
        layout.create(
            f"docs/source/en/{local}.md",
            render("docs/pipeline.md.j2", **common),
            "Pipeline page: usage per workflow, the modular pipeline, API reference.",
            "docs",
        )
        section = "Image" if names.dims == "2d" else "Video"
        entries.append((["API", "Pipelines", section], local, names.display_name))
    lora_doc = "docs/source/en/api/loaders/lora.md"
    if names.lora_mixin and (checkout.root / lora_doc).is_file():
        # utils/check_support_list.py wants every mixin of lora_pipeline.py documented on that page.
        text = checkout.read_text(lora_doc)
        layout.edits[lora_doc] = edits.insert_lora_doc(text, names.lora_mixin, names.display_name, names.snake)
        layout.purposes[lora_doc] = f"`{names.lora_mixin}` on the LoRA loaders API page (bullet and autodoc)."
        layout.roles.setdefault("docs", []).append(lora_doc)
    layout.purposes[TOCTREE] = "Docs table of contents: one entry per new page, in upstream's sort order."
    layout.roles.setdefault("docs", []).append(TOCTREE)


def _layout_edits(checkout: Checkout, names: ScaffoldNames, layout: _Layout) -> None:
    pkg = checkout.package_rel
    if names.lora_mixin:
        rel = f"{pkg}/loaders/lora_pipeline.py"
        layout.edits[rel] = edits.insert_lora_mixin(checkout.read_text(rel), names.lora_mixin, layout.lora_class)
        layout.purposes[rel] = (
            f"`{names.lora_mixin}`, the LoRA loader mixin of the pipelines (# Copied from upstream)."
        )
        layout.roles.setdefault("lora", []).append(rel)
    if names.pipelines:
        # The auto-pipeline task mappings name the standard pipelines under the model name the modular blocks use,
        # so `AutoPipelineFor…` finds them and `ModularPipeline.from_pretrained` maps a repo they saved.
        rel = f"{pkg}/pipelines/auto_pipeline.py"
        text = checkout.read_text(rel) if checkout.exists(rel) else None
        if text is not None:
            tasks = {pipeline.task: pipeline.class_name for pipeline in names.pipelines}
            layout.edits[rel] = edits.insert_auto_pipelines(
                text, names.modular_model_name, names.pipeline_package, tasks
            )
            layout.purposes[rel] = (
                f'Auto-pipeline task mappings: "{names.modular_model_name}" -> '
                + ", ".join(tasks.values())
                + " (AutoPipelineFor… and ModularPipeline.from_pretrained find them)."
            )
            layout.roles.setdefault("pipelines", []).append(rel)
    if layout.toc_entries:
        text = checkout.read_text(TOCTREE)
        for section, local, title in layout.toc_entries:
            text = edits.insert_toc_entry(text, section, local, title)
        layout.edits[TOCTREE] = text


def _roll_back(checkout: Checkout, written: list[FileChange], previous: dict[str, str]) -> None:
    """Removes what this call created and restores what it edited (best effort: the original error wins)."""
    undo: dict[str, str | None] = {}
    for change in written:
        if change.action == "created":
            undo[change.path] = None
        elif change.action == "modified" and change.path in previous:
            undo[change.path] = previous[change.path]
    if undo:
        try:
            checkout.write_files(undo)
        except IntegratorError:
            pass


# ------------------------------------------------------------------------------------------ helpers


def py(value) -> str:
    """A Python literal as ruff formats it (double quotes, tuples with their commas)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(py(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(py(item) for item in value) + "]"
    return repr(value)


def _tiny_vae(names: ScaffoldNames, dims: str) -> dict:
    if names.autoencoder:
        return configs.tiny_autoencoder_config(dims)
    return configs.tiny_vae_config(dims)


def _py_dict(values: dict) -> dict[str, str]:
    return {key: py(value) for key, value in values.items()}


def _latent_size(dims: str, call: dict, own_autoencoder: bool) -> dict:
    spatial, temporal = configs.vae_factors(dims, own_autoencoder)
    size = {"height": call["height"] // spatial, "width": call["width"] // spatial}
    if dims == "3d":
        size["frames"] = (call["num_frames"] - 1) // temporal + 1
    return size


def upstream_test_layout(checkout: Checkout) -> dict[str, bool]:
    """Which of upstream's current test layouts the checkout has (a git clone of recent main does)."""

    def has(rel: str, marker: str) -> bool:
        path = checkout.root / rel
        return path.is_file() and marker in path.read_text(encoding="utf-8")

    return {
        "pipelines": has("tests/pipelines/testing_utils/__init__.py", "BasePipelineTesterConfig"),
        "modular": has("tests/modular_pipelines/testing_utils/__init__.py", "BaseModularPipelineTesterConfig"),
    }


def _expected_workflows(names: ScaffoldNames, uncond: str | None, cond: str | None) -> dict[str, list[tuple]]:
    """The (block path, class) list of each workflow, as `modular_blocks.py.j2` assembles them."""
    prefix = names.prefix
    head = [("text_encoder", f"{prefix}TextEncoderStep")]
    tail = [("decode", f"{prefix}VaeDecoderStep")]
    flows: dict[str, list[tuple]] = {}
    if uncond:
        flows[uncond] = [
            *head,
            ("denoise.input", f"{prefix}TextInputStep"),
            ("denoise.set_timesteps", f"{prefix}SetTimestepsStep"),
            ("denoise.prepare_latents", f"{prefix}PrepareLatentsStep"),
            ("denoise.denoise", f"{prefix}DenoiseStep"),
            *tail,
        ]
    if cond == "image2image":
        flows[cond] = [
            *head,
            ("vae_encoder", f"{prefix}VaeEncoderStep"),
            ("denoise.input", f"{prefix}TextInputStep"),
            ("denoise.set_timesteps", f"{prefix}Img2ImgSetTimestepsStep"),
            ("denoise.prepare_latents", f"{prefix}Img2ImgPrepareLatentsStep"),
            ("denoise.denoise", f"{prefix}DenoiseStep"),
            *tail,
        ]
    elif cond == "image2video":
        flows[cond] = [
            *head,
            ("vae_encoder", f"{prefix}VaeEncoderStep"),
            ("denoise.input", f"{prefix}TextInputStep"),
            ("denoise.set_timesteps", f"{prefix}SetTimestepsStep"),
            ("denoise.prepare_latents", f"{prefix}PrepareLatentsStep"),
            ("denoise.prepare_image_latents", f"{prefix}Image2VideoPrepareLatentsStep"),
            ("denoise.denoise", f"{prefix}Image2VideoDenoiseStep"),
            *tail,
        ]
    return flows


def _pt_output_shape(dims: str, call: dict) -> str:
    if dims == "2d":
        return py((1, 3, call["height"], call["width"]))
    return py((1, call["num_frames"], 3, call["height"], call["width"]))


def _frozenset_literal(names: list[str], indent: int) -> str:
    """`frozenset([...])` as ruff formats it at an assignment indented by `indent` (the value's own width)."""
    items = ", ".join(f'"{name}"' for name in names)
    flat = f"frozenset([{items}])"
    prefix = " " * indent + "required_input_params_in_call_signature = "
    if len(prefix) + len(flat) <= 119:
        return flat
    if len(" " * (indent + 4) + f"[{items}]") <= 119:
        return f"frozenset(\n{' ' * (indent + 4)}[{items}]\n{' ' * indent})"
    body = "".join(f'{" " * (indent + 8)}"{name}",\n' for name in names)
    return f"frozenset(\n{' ' * (indent + 4)}[\n{body}{' ' * (indent + 4)}]\n{' ' * indent})"


def _per_sample_shape(dims: str, call: dict) -> str:
    """One sample of `output_type="pt"`: (channels, height, width), or (frames, channels, height, width)."""
    if dims == "2d":
        return py((3, call["height"], call["width"]))
    return py((call["num_frames"], 3, call["height"], call["width"]))


def _output_shape(dims: str, call: dict) -> str:
    if dims == "2d":
        return py((1, call["height"], call["width"], 3))
    return py((1, call["num_frames"], call["height"], call["width"], 3))


def _latent_shape(dims: str, tiny: dict, call: dict, own_autoencoder: bool) -> str:
    size = _latent_size(dims, call, own_autoencoder)
    if dims == "2d":
        return py((1, tiny["in_channels"], size["height"], size["width"]))
    return py((1, tiny["in_channels"], size["frames"], size["height"], size["width"]))


def _summary(request: ScaffoldRequest, files: list[ScaffoldedFile], registered: list[str], changes) -> str:
    created = sum(1 for f in files if f.action == "created")
    modified = sum(1 for f in files if f.action == "modified")
    if request.dry_run:
        return (
            f"Dry run: would create {created} files, edit {modified}, and register {len(registered)} names "
            f"({len(changes)} file diffs). Nothing was written."
        )
    if not changes:
        return "Nothing to do: this integration is already scaffolded exactly like this."
    return f"Created {created} files, edited {modified}, registered {len(registered)} names."
