"""Strip and restore on the real release: a sample of every kind here, the full sweep under `slow`."""

from __future__ import annotations

import pytest

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
]


def test_cases_cover_every_registering_module_of_the_release(pristine_graph):
    cases = enumerate_cases(pristine_graph)
    kinds = {}
    for case in cases:
        kinds[case.kind] = kinds.get(case.kind, 0) + 1
    assert kinds == {"model": 150, "model-family": 6, "modular": 25, "pipeline": 121, "scheduler": 51}
    labels = {case.label for case in cases}
    assert set(INTERESTING) <= labels
    assert "pipelines/deprecated/versatile_diffusion" in labels  # nested packages are walked


def test_a_sample_of_each_kind_is_restored_without_failure(pristine, pristine_graph):
    cases = sample_cases(enumerate_cases(pristine_graph), per_kind=2, include=INTERESTING)
    report = run_sweep(pristine, cases, pristine_graph)
    by_label = {outcome.case.label: outcome for outcome in report.outcomes}
    assert not [label for label, outcome in by_label.items() if outcome.status == "failure"], [
        (label, outcome.reasons, [(f.rel, f.reason) for f in outcome.files if f.status == "failure"])
        for label, outcome in by_label.items()
        if outcome.status == "failure"
    ]
    assert all(outcome.idempotent for outcome in report.outcomes)
    # Models and schedulers come back byte for byte, dummies included.
    assert by_label["models/transformers/transformer_z_image.py"].status == "identical"
    assert by_label["schedulers/scheduling_lms_discrete.py"].status == "identical"
    assert by_label["models/latent_upscaler"].status == "identical"
    # StableCascadeUNet gets the TYPE_CHECKING entry and dummy upstream forgot: explained by that finding.
    cascade = by_label["models/unets/unet_stable_cascade.py"]
    assert cascade.status == "explained"
    assert {f.rel for f in cascade.files if f.status == "explained"} == {"__init__.py", "utils/dummy_pt_objects.py"}
    # A pipeline package: its init is re-created in the canonical form, pipelines/__init__.py places the new
    # `_import_structure["z_image"]` freely; everything else is byte-identical.
    z_image = {f.rel: f for f in by_label["pipelines/z_image"].files}
    assert z_image["__init__.py"].status == "identical"
    assert z_image["utils/dummy_torch_and_transformers_objects.py"].status == "identical"
    assert z_image["pipelines/__init__.py"].reason.startswith("subpackage-placement")
    assert z_image["pipelines/z_image/__init__.py"].reason.startswith("created-init")


def test_strip_leaves_no_mention_of_the_names(pristine, pristine_graph):
    case = next(case for case in enumerate_cases(pristine_graph) if case.label == "pipelines/z_image")
    outcome = run_case(pristine, pristine_graph, set(), case)
    assert outcome is not None and not outcome.reasons  # the strip step records any leftover mention
    assert "ZImagePipeline" in outcome.names and "ZImagePipelineOutput" in outcome.names


@pytest.mark.slow
def test_full_sweep_of_the_release(pristine, pristine_graph):
    report = run_sweep(pristine, None, pristine_graph)
    counts = report.counts()
    failures = [outcome for outcome in report.outcomes if outcome.status == "failure"]
    assert not failures, [(o.case.label, o.reasons, [f.reason for f in o.files]) for o in failures]
    assert len(report.outcomes) == 353
    assert counts["identical"] >= 190
    assert all(outcome.idempotent for outcome in report.outcomes)
