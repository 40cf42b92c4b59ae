"""Specs run in-process: component parity of the research pair, config diff, stage tests with injection."""

from diffusers_integrator.parity.engine import run_spec_in_process

from .specs import research_component, stages


def test_research_pair_component_parity_passes_on_cpu(tmp_path):
    spec = tmp_path / "research_transformer.py"
    spec.write_text(research_component(depth=2))
    report = run_spec_in_process(spec, tmp_path / "report", device="cpu")
    assert report.status == "passed", report.summary
    assert report.outputs[0].max_abs < 1e-5
    assert report.config is not None and report.config.clean
    assert report.localization is not None and report.localization.first_divergence is None
    assert report.localization.alignment.aligned == report.localization.alignment.candidate_modules
    assert (tmp_path / "report" / "report.json").is_file()
    assert (tmp_path / "report" / "plots" / "modules.png").is_file()


def test_failing_component_names_culprit_and_cause(tmp_path):
    spec = tmp_path / "research_transformer.py"
    spec.write_text(research_component(depth=1, mutate="swap_final_modulation"))
    report = run_spec_in_process(spec, tmp_path / "report")
    assert report.status == "failed"
    fd = report.localization.first_divergence
    assert fd.culprit == "norm_out" and fd.where == "input"
    assert any("shift" in c for c in fd.likely_causes)
    text = report.summary
    assert len(text.splitlines()) <= 40
    assert "first divergence: proj_out input" in text and "culprit: norm_out" in text
    assert (tmp_path / "report" / "summary.txt").read_text().strip() == text


def test_stage_tests_isolate_the_noise_dtype_bug(tmp_path):
    spec = tmp_path / "sampler_stages.py"
    spec.write_text(stages(bug=True))
    report = run_spec_in_process(spec, tmp_path / "report")
    by = {s.name: s for s in report.stages}
    encode = by["encode"]
    assert not encode.passed and encode.stopped_at == "preloop"
    latents = next(d for d in encode.points[0].tensors if d.name == "preloop.latents")
    assert 1e-3 < latents.max_abs < 2e-2  # the bf16-quantised-noise signature
    assert all(d.passed for d in encode.points[0].tensors if d.name != "preloop.latents")
    # With the reference's preloop values injected, the loop itself matches: the noise was the cause.
    denoise = by["denoise"]
    assert denoise.passed and denoise.injected == ["preloop"] and denoise.stopped_at == "after_step_2"
    assert [p.point for p in denoise.points] == ["preloop", "after_step_0", "after_step_1", "after_step_2"]
    loop = by["loop"]
    assert not loop.passed and len([p for p in loop.points if p.step is not None]) == 6
    assert (tmp_path / "report" / "plots" / "steps.png").is_file()
    assert "stage encode: FAILED" in report.summary


def test_stage_tests_pass_without_the_bug(tmp_path):
    spec = tmp_path / "sampler_stages.py"
    spec.write_text(stages(bug=False))
    report = run_spec_in_process(spec, tmp_path / "report")
    assert report.status == "passed", report.summary
    assert all(s.passed for s in report.stages)


def test_spec_errors_are_reports(tmp_path):
    spec = tmp_path / "broken.py"
    spec.write_text("def reference():\n    return 1\n")
    report = run_spec_in_process(spec, tmp_path / "report")
    assert report.status == "error" and report.error.kind == "spec"
    assert "candidate()" in report.error.message
    spec.write_text(
        "def reference():\n    raise RuntimeError('checkpoint not found')\n"
        "def candidate():\n    return None\ndef inputs():\n    return {}\n"
    )
    report = run_spec_in_process(spec, tmp_path / "report2")
    assert report.error.kind == "spec" and "checkpoint not found" in report.error.message
    assert "RuntimeError" in report.summary
