"""Strip and restore on the real release, compared strictly: a sample of every kind here, the full sweep under `slow`."""

from __future__ import annotations

import pytest

from diffusers_integrator.registry.check import check_tree
from diffusers_integrator.testing.strict import Evidence
from diffusers_integrator.testing.strip_restore import enumerate_cases, run_case, run_sweep, sample_cases


INTERESTING = [
    "models/transformers/transformer_z_image.py",  # the Z-Image model
    "models/unets/unet_stable_cascade.py",  # the release's own Z-Image-class bug: restored *with* its dummy
    "models/latent_upscaler",  # a family init re-created from nothing
    "pipelines/z_image",  # a pipeline package, its init re-created
    "pipelines/consisid",  # its own backend block (opencv), removed and re-created
    "pipelines/kolors",  # sentencepiece block, shared with KolorsPAGPipeline of pipelines/pag
    "schedulers/scheduling_lms_discrete.py",  # the scipy block
    "modular_pipelines/flux",
    "guiders/classifier_free_guidance.py",  # top level `_import_structure["guiders"]`, plain guiders/ init
    "hooks/text_kv_cache.py",  # a KV-cache config and its apply_ function, plain hooks/ init
    "loaders/lora_pipeline.py",  # loaders/: nested plain `if` guards, a list upstream appends to
    "quantizers/base.py",  # the top level's `_import_structure["quantizers"]`
]


def test_cases_cover_every_registering_module_of_the_release(pristine_graph):
    cases = enumerate_cases(pristine_graph)
    kinds = {}
    for case in cases:
        kinds[case.kind] = kinds.get(case.kind, 0) + 1
    assert kinds == {
        "guider": 13,
        "hook": 14,
        "loader": 10,
        "model": 150,
        "model-family": 6,
        "modular": 25,
        "pipeline": 121,
        "quantizer": 4,
        "scheduler": 51,
    }
    labels = {case.label for case in cases}
    assert set(INTERESTING) <= labels
    assert "pipelines/deprecated/versatile_diffusion" in labels  # nested packages are walked


def test_a_sample_of_each_kind_is_restored_as_upstream_wrote_it(pristine, pristine_graph):
    cases = sample_cases(enumerate_cases(pristine_graph), per_kind=1, include=INTERESTING)
    report = run_sweep(pristine, cases, pristine_graph)
    by_label = {outcome.case.label: outcome for outcome in report.outcomes}
    assert not [label for label, outcome in by_label.items() if outcome.status == "failure"], [
        (label, outcome.reasons, [(f.rel, f.rule, f.evidence) for f in outcome.files if f.status == "failure"])
        for label, outcome in by_label.items()
        if outcome.status == "failure"
    ]
    assert all(outcome.idempotent for outcome in report.outcomes)
    # Byte for byte, dummies and guards included: models, schedulers, guiders, hooks.
    for label in (
        "models/transformers/transformer_z_image.py",
        "schedulers/scheduling_lms_discrete.py",
        "models/latent_upscaler",
        "guiders/classifier_free_guidance.py",
        "hooks/text_kv_cache.py",
        "quantizers/base.py",
    ):
        assert by_label[label].status == "identical", (label, [(f.rel, f.evidence) for f in by_label[label].files])
    # StableCascadeUNet gets the TYPE_CHECKING entry and dummy upstream forgot: the finding is the evidence.
    cascade = {f.rel: f for f in by_label["models/unets/unet_stable_cascade.py"].files if f.status != "identical"}
    assert set(cascade) == {"__init__.py", "utils/dummy_pt_objects.py"}
    assert all(
        f.rule == "contradiction" and "StableCascadeUNet: typing-missing" in f.evidence for f in cascade.values()
    )
    # A pipeline package: every difference is one upstream itself makes, named with the file that shows it.
    z_image = {f.rel: f for f in by_label["pipelines/z_image"].files}
    assert z_image["__init__.py"].status == "identical"
    assert z_image["utils/dummy_torch_and_transformers_objects.py"].status == "identical"
    assert z_image["pipelines/__init__.py"].rule == "position"
    assert "keeps that block in no order" in z_image["pipelines/__init__.py"].evidence
    assert z_image["pipelines/z_image/__init__.py"].rule == "form"
    assert "ours is the form of" in z_image["pipelines/z_image/__init__.py"].evidence
    # loaders/: the mixins come back into the nested torch+transformers block upstream keeps them in.
    lora = {f.rel: f for f in by_label["loaders/lora_pipeline.py"].files if f.status != "identical"}
    assert set(lora) == {"loaders/__init__.py"} and lora["loaders/__init__.py"].rule == "position"


def test_strip_leaves_no_mention_of_the_names(pristine, pristine_graph):
    case = next(case for case in enumerate_cases(pristine_graph) if case.label == "pipelines/z_image")
    findings, _, _ = check_tree(pristine)
    outcome = run_case(pristine, pristine_graph, Evidence.of(pristine, findings), case)
    assert outcome is not None and not outcome.reasons  # the strip step records any leftover mention
    assert "ZImagePipeline" in outcome.names and "ZImagePipelineOutput" in outcome.names


@pytest.mark.slow
def test_full_sweep_of_the_release(pristine, pristine_graph):
    report = run_sweep(pristine, None, pristine_graph)
    counts = report.counts()
    failures = [outcome for outcome in report.outcomes if outcome.status == "failure"]
    assert not failures, [
        (o.case.label, o.reasons, [(f.rel, f.rule, f.evidence) for f in o.files if f.status == "failure"])
        for o in failures
    ]
    assert len(report.outcomes) == 394
    assert counts["identical"] >= 230
    assert all(outcome.idempotent for outcome in report.outcomes)
    # Every allowed difference carries upstream's evidence.
    assert all(file.evidence for files in report.varying_files().values() for _, file in files)
