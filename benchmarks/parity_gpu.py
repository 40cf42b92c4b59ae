"""GPU parity benchmark: the bf16 + cosine path on CUDA with a ~1.5B-parameter DiT built from a config.

Model: diffusers' FluxTransformer2DModel at 2 double-stream + 6 single-stream blocks of Flux's real width
(3072, 24 heads of 128), random seeded weights built on the GPU, bf16; 1024 image tokens + 512 text tokens.
Reference and candidate are the same class and weights (a clean port), built one after the other, as
`run_parity` does. Measured:

* the clean port passes the bf16 criteria (max abs <= 1e-1, cosine >= 0.9999) and localisation flags nothing;
* time: two bare forwards vs compare-only vs with localisation (each variant builds, runs and frees both models;
  construction is timed separately and left out of the ratios);
* peak GPU memory (one model resident at a time) and peak host RSS (localisation keeps activations on CPU);
* one planted bug (q and k weights swapped in the first block) is detected and blamed on `to_q`.

Runs in well under 5 minutes on one H100. Without CUDA it says so and exits 0 (`--smoke` runs the same code
path on CPU at a tiny width, to check the script itself).

Usage: python benchmarks/parity_gpu.py [--smoke] [--tokens 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from functools import partial


FULL = {
    "patch_size": 1,
    "in_channels": 64,
    "num_layers": 2,
    "num_single_layers": 6,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "pooled_projection_dim": 768,
    "guidance_embeds": True,
    "axes_dims_rope": [16, 56, 56],
}
SMOKE = {
    **FULL,
    "attention_head_dim": 16,
    "num_attention_heads": 2,
    "joint_attention_dim": 32,
    "pooled_projection_dim": 16,
    "in_channels": 8,
    "axes_dims_rope": [4, 6, 6],
}


def _rss_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny width on CPU: checks the script, not the GPU")
    parser.add_argument("--tokens", type=int, default=1024, help="image tokens (a square grid)")
    parser.add_argument("--text-tokens", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch

    if not args.smoke and not torch.cuda.is_available():
        print(
            "parity_gpu: no CUDA device visible; nothing measured. Run it on a GPU machine "
            "(or pass --smoke to check the script on CPU)."
        )
        return 0
    device = "cpu" if args.smoke else "cuda"
    dtype = torch.bfloat16
    config = SMOKE if args.smoke else FULL
    if args.smoke:
        args.tokens, args.text_tokens, args.repeat = min(args.tokens, 64), min(args.text_tokens, 16), 1

    from diffusers import FluxTransformer2DModel

    from diffusers_integrator.parity.align import ModelIndex, align_modules
    from diffusers_integrator.parity.compare import compare_outputs, default_tolerance
    from diffusers_integrator.parity.diagnose import diagnose
    from diffusers_integrator.parity.localize import compare_candidate, record_reference

    side = int(args.tokens**0.5)
    gen = torch.Generator("cpu").manual_seed(0)
    img_ids = torch.zeros(side, side, 3)
    img_ids[..., 1] = torch.arange(side)[:, None]
    img_ids[..., 2] = torch.arange(side)[None, :]
    inputs = {
        "hidden_states": torch.randn(1, side * side, config["in_channels"], generator=gen),
        "encoder_hidden_states": torch.randn(1, args.text_tokens, config["joint_attention_dim"], generator=gen),
        "pooled_projections": torch.randn(1, config["pooled_projection_dim"], generator=gen),
        "timestep": torch.tensor([0.625]),
        "guidance": torch.tensor([3.5]),
        "img_ids": img_ids.reshape(-1, 3),
        "txt_ids": torch.zeros(args.text_tokens, 3),
    }
    inputs = {
        k: v.to(device=device, dtype=dtype if k not in ("img_ids", "txt_ids") else torch.float32)
        for k, v in inputs.items()
    }

    def build(swap_qk: bool = False) -> torch.nn.Module:
        with torch.device(device):
            model = FluxTransformer2DModel(**config)
        model = model.to(dtype).eval()
        g = torch.Generator(device).manual_seed(1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                noise = torch.randn(p.shape, generator=g, device=device, dtype=torch.float32) * 0.02
                p.copy_((1 + noise) if p.ndim == 1 and "norm" in name else noise)
            if swap_qk:
                attn = model.transformer_blocks[0].attn
                q, k = attn.to_q.weight.clone(), attn.to_k.weight.clone()
                attn.to_q.weight.copy_(k)
                attn.to_k.weight.copy_(q)
        return model

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    def free() -> None:
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()

    def forward(model):
        return model(**inputs, return_dict=False)[0]

    timings: dict[str, list[float]] = {"bare": [], "compare": [], "localize": []}
    build_times: list[float] = []
    results = {}

    def run(variant: str, swap_qk: bool = False):
        start_build = time.perf_counter()
        ref = build()
        sync()
        build_s = time.perf_counter() - start_build
        with torch.no_grad():
            t0 = time.perf_counter()
            if variant == "localize":
                index = ModelIndex.from_model(ref)
                ref_out, store = record_reference(ref, partial(forward, ref))
            else:
                ref_out = forward(ref)
            ref_out = ref_out.detach().to("cpu")
            sync()
            t_ref = time.perf_counter() - t0
            del ref
            free()
            start_build = time.perf_counter()
            cand = build(swap_qk)
            sync()
            build_s += time.perf_counter() - start_build
            t0 = time.perf_counter()
            loc = None
            if variant == "localize":
                alignment = align_modules(index, ModelIndex.from_model(cand, resident=True), None)
                cand_out, lrun = compare_candidate(cand, partial(forward, cand), alignment, store, index)
                loc = diagnose(lrun)
            else:
                cand_out = forward(cand)
            diffs = compare_outputs(ref_out, cand_out) if variant != "bare" else []
            sync()
            t_cand = time.perf_counter() - t0
            del cand
            free()
        build_times.append(build_s)
        return t_ref + t_cand, diffs, loc, (store.nbytes if variant == "localize" else 0)

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    params = sum(p.numel() for p in build().parameters())
    free()
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu (smoke)'}; torch {torch.__version__}")
    print(
        f"model: FluxTransformer2DModel {config['num_layers']}+{config['num_single_layers']} blocks, "
        f"{params / 1e9:.2f}B parameters, bf16; {side * side} image + {args.text_tokens} text tokens"
    )

    for variant in ("bare", "compare", "localize"):
        run(variant)  # warm-up (kernels, allocator)
    for _ in range(args.repeat):
        for variant in ("bare", "compare", "localize"):
            seconds, diffs, loc, captured = run(variant)
            timings[variant].append(seconds)
            if diffs:
                results[variant] = (diffs, loc, captured)
    best = {k: min(v) for k, v in timings.items()}
    print(
        f"\ntime per variant (min of {args.repeat}; model construction excluded, {min(build_times):.1f} s per pair):"
    )
    for k in ("bare", "compare", "localize"):
        print(f"  {k:9} {best[k] * 1000:9.1f} ms")
    print(f"  compare-only / two bare forwards: {best['compare'] / best['bare']:.2f}x")
    print(f"  with localisation / two bare forwards: {best['localize'] / best['bare']:.2f}x")

    diffs, _, _ = results["compare"]
    tol = default_tolerance(dtype)
    d = diffs[0]
    print(
        f"\nclean port, bf16 ({tol.describe()}): max abs {d.max_abs:.3g}, cosine {d.cosine:.6f} -> "
        f"{'pass' if d.passed else 'FAIL: ' + str(d.reason)}"
    )
    _, loc, captured = results["localize"]
    flagged = loc.first_divergence.module if loc.first_divergence else "nothing"
    print(
        f"localisation on the clean port: {loc.alignment.aligned} modules aligned, first divergence: {flagged}; "
        f"activations kept on CPU: {captured / 2**30:.2f} GiB"
    )

    _, diffs, loc, _ = run("localize", swap_qk=True)
    fd = loc.first_divergence
    print(
        f"planted bug (to_q/to_k swapped in block 0): outputs {'FAIL' if not diffs[0].passed else 'pass'} "
        f"(cosine {diffs[0].cosine:.6f}); blamed: {fd.culprit if fd else 'nothing'} ({fd.where if fd else '-'})"
    )

    if device == "cuda":
        print(
            f"\npeak GPU memory allocated: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB "
            f"(model weights {params * 2 / 2**30:.2f} GiB, one model resident at a time)"
        )
    print(f"peak host RSS: {_rss_hwm_mb() / 1024:.2f} GiB")
    print("\ncommand: python benchmarks/parity_gpu.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
