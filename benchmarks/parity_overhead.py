"""Parity overhead against the anchor: two bare forward passes (reference, then candidate).

Model: the research-style DiT and its diffusers port at a mid-size config on CPU/float32 (compute-bound like a
real component test, small enough for a 2-core machine). Model construction is the same in every variant and is
left out of the timings.

* compare-only: forward the reference, copy its output to CPU, forward the candidate, compare (`localize=False`);
* with localisation: also summarise both models' weights, record every reference leaf's input/output (written
  to a temporary file as they come), align the modules and compare every candidate leaf on the fly against the
  values read back, diagnose (`localize=True`).

Peak memory is measured in fresh processes (one per variant) that build one model at a time as `run_parity`
does, and divided by the bare run's peak (the larger model + its working activations): localisation keeps the
reference's activations in a file, so nothing it records should add to that.

Targets: compare-only <= 1.10x, with localisation <= 2x (time); localisation's peak RSS <= 1.2x the bare run's.
Exits 1 when one is missed.

Torch runs on one thread by default: on a machine shared with other jobs, two OpenMP threads fighting for busy
cores make a forward pass 2-4x slower at random, and the ratios noise (`--threads N` to choose). Each round runs
the three variants back to back; the target is on the wall-clock minimum of each (other jobs only ever add
time), the medians and the process CPU time are printed beside it.

Usage: .venv/bin/python benchmarks/parity_overhead.py [--repeat N] [--threads T] [--latent 32|64] [--depth D]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from functools import partial


def _setup(depth: int, hidden: int, heads: int, latent: int = 32):
    import torch

    from diffusers_integrator.testing.dit_conversion import build_candidate
    from diffusers_integrator.testing.research_dit import ResearchDiTConfig, build_reference

    config = ResearchDiTConfig(depth=depth, hidden_size=hidden, num_heads=heads, context_dim=256, freq_dim=256)
    gen = torch.Generator().manual_seed(0)
    inputs = {
        "x": torch.randn(1, config.in_channels, latent, latent, generator=gen),
        "t": torch.tensor([437.25]),
        "context": torch.randn(1, 64, config.context_dim, generator=gen),
    }

    def make_reference():
        return build_reference(config)

    def make_candidate():
        return build_candidate(build_reference(config).state_dict(), config)

    def call_reference(model):
        return model(**inputs)

    def call_candidate(model):
        return model(hidden_states=inputs["x"], timestep=inputs["t"], encoder_hidden_states=inputs["context"])

    return make_reference, make_candidate, call_reference, call_candidate


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _param_mb(model) -> float:
    return sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20


def measure_memory(mode: str, depth: int, hidden: int, heads: int, latent: int) -> dict:
    """One fresh process per mode: one model resident at a time, like the runner."""
    import torch

    from diffusers_integrator.parity.align import ModelIndex, align_modules
    from diffusers_integrator.parity.compare import compare_outputs
    from diffusers_integrator.parity.localize import compare_candidate, record_reference

    make_ref, make_cand, call_ref, call_cand = _setup(depth, hidden, heads, latent)
    # Warm the libraries on a tiny model so every mode starts alike, then reset the kernel's peak-RSS
    # counter (VmHWM) so the peak below is this run's alone.
    tiny = _setup(1, 32, 2)
    with torch.no_grad():
        tiny[2](tiny[0]())
        tiny[3](tiny[1]())
    del tiny
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    baseline = _rss_mb()
    out: dict = {"mode": mode}
    with torch.no_grad():
        ref = make_ref()
        out["reference_params_mb"] = _param_mb(ref)
        if mode == "localize":
            index = ModelIndex.from_model(ref)
            ref_out, store = record_reference(ref, partial(call_ref, ref))
            out["captured_mb"] = store.nbytes / 2**20
        else:
            ref_out = call_ref(ref)
        ref_out = ref_out.detach().clone()
        del ref
        gc.collect()
        cand = make_cand()
        out["candidate_params_mb"] = _param_mb(cand)
        if mode == "localize":
            alignment = align_modules(index, ModelIndex.from_model(cand, resident=True), None)
            cand_out, _ = compare_candidate(cand, lambda: call_cand(cand), alignment, store, index)
            store.close()
        else:
            cand_out = call_cand(cand)
        if mode != "bare":
            compare_outputs(ref_out, cand_out)
    out["peak_delta_mb"] = _status_mb("VmHWM") - baseline
    return out


def time_variants(repeat: int, depth: int, hidden: int, heads: int, latent: int):
    import torch

    from diffusers_integrator.parity.align import ModelIndex, align_modules
    from diffusers_integrator.parity.compare import compare_outputs
    from diffusers_integrator.parity.diagnose import diagnose
    from diffusers_integrator.parity.localize import compare_candidate, record_reference

    make_ref, make_cand, call_ref, call_cand = _setup(depth, hidden, heads, latent)
    ref, cand = make_ref(), make_cand()

    def bare() -> None:
        call_ref(ref)
        call_cand(cand)

    def compare_only() -> None:
        ref_out = call_ref(ref).detach().to("cpu", copy=True)
        cand_out = call_cand(cand)
        compare_outputs(ref_out, cand_out)

    def with_localisation() -> None:
        index = ModelIndex.from_model(ref)
        ref_out, store = record_reference(ref, partial(call_ref, ref))
        ref_out = ref_out.detach().to("cpu", copy=True)
        alignment = align_modules(index, ModelIndex.from_model(cand, resident=True), None)
        cand_out, run = compare_candidate(cand, partial(call_cand, cand), alignment, store, index)
        store.close()
        compare_outputs(ref_out, cand_out)
        diagnose(run)

    variants = {"bare": bare, "compare": compare_only, "localize": with_localisation}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    with torch.no_grad():
        for fn in variants.values():
            fn()  # warm-up
        for _ in range(repeat):
            for name, fn in variants.items():  # interleaved, so load from other jobs hits all alike
                start, start_cpu = time.perf_counter(), time.process_time()
                fn()
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--latent", type=int, default=32, help="latent side: 32 -> 256 image tokens, 64 -> 1024")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; 0: torch's own choice)")
    parser.add_argument("--measure-memory", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    shape = (args.depth, args.hidden, args.heads, args.latent)

    if args.measure_memory:
        print(json.dumps(measure_memory(args.measure_memory, *shape)))
        return 0

    import torch

    tokens = (args.latent // 2) ** 2
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, research DiT depth {args.depth}, "
        f"hidden {args.hidden}, {tokens} image + 64 text tokens, CPU float32"
    )
    wall, cpu = time_variants(args.repeat, *shape)
    best = {k: min(v) for k, v in wall.items()}
    median = {k: sorted(v)[len(v) // 2] for k, v in wall.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    print(f"\ntime: wall min / wall median / process CPU min, of {args.repeat} interleaved rounds")
    for name in ("bare", "compare", "localize"):
        print(
            f"  {name:9} {best[name] * 1000:8.1f} ms / {median[name] * 1000:8.1f} ms / {best_cpu[name] * 1000:8.1f} ms"
        )
    ratios = {}
    for name, target in (("compare", 1.10), ("localize", 2.0)):
        ratios[name] = best[name] / best["bare"]  # the least disturbed run of each: other jobs only ever add time
        label = "compare-only" if name == "compare" else "with localisation"
        print(
            f"  {label} / two bare forwards: {ratios[name]:.3f}x wall min (target <= {target:g}x); "
            f"{median[name] / median['bare']:.3f}x wall median, {best_cpu[name] / best_cpu['bare']:.3f}x process CPU"
        )

    memory = {}
    for mode in ("bare", "compare", "localize"):
        cmd = [sys.executable, __file__, "--measure-memory", mode]
        cmd += ["--depth", str(args.depth), "--hidden", str(args.hidden), "--heads", str(args.heads)]
        cmd += ["--latent", str(args.latent), "--threads", str(args.threads)]
        memory[mode] = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    model_mb = max(memory["bare"]["reference_params_mb"], memory["bare"]["candidate_params_mb"])
    captured = memory["localize"]["captured_mb"]
    print("\npeak RSS above the post-import baseline (fresh process each, one model resident at a time):")
    print(
        f"  larger model weights: {model_mb:.1f} MB; activations localisation records (to a file): {captured:.1f} MB"
    )
    for mode in ("bare", "compare", "localize"):
        print(f"  {mode:9} {memory[mode]['peak_delta_mb']:8.1f} MB")
    ratio_mem = memory["localize"]["peak_delta_mb"] / memory["bare"]["peak_delta_mb"]
    print(f"  localisation peak / bare peak: {ratio_mem:.3f}x (target <= 1.2x)")
    compare_mem = memory["compare"]["peak_delta_mb"] / memory["bare"]["peak_delta_mb"]
    print(f"  compare-only peak / bare peak: {compare_mem:.3f}x")
    if captured:
        print(f"  (held in memory, the activations alone would add {captured / memory['bare']['peak_delta_mb']:.2f}x)")
    print("\ncommand: .venv/bin/python benchmarks/parity_overhead.py " + " ".join(sys.argv[1:]))
    ok = ratios["compare"] <= 1.10 and ratios["localize"] <= 2.0 and ratio_mem <= 1.2
    print(
        f"targets: {'met' if ok else 'MISSED'} (anchor: two bare forward passes, the reference's then the candidate's)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
