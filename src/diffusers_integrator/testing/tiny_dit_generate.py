"""Generate an image with the tree's `TinyDiTPipeline` on the converted transformer, offline, and save it as PNG.

Run with the tree's `src/` first on `PYTHONPATH` (the demo does), so `diffusers` is the tree's, with the
integration in it:

    PYTHONPATH=<tree>/src python -m diffusers_integrator.testing.tiny_dit_generate --weights <converted> --out a.png

The transformer comes from the converted folder (`from_pretrained`); the VAE, the T5 encoder and the tokenizer are
built in code the way the generated pipeline tests build theirs, so nothing is downloaded. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


WORDS = "a tiny robot painting the sun over a red sea with blue green trees and a small cat".split()


def tiny_components() -> dict:
    """VAE, T5 encoder and tokenizer small enough for CPU, seeded; text width 32 as the converted transformer's."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = Whitespace()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=64,
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            dropout_rate=0.0,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    return {
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
        ),
        "scheduler": FlowMatchEulerDiscreteScheduler(),
    }


def generate(weights: Path, out: Path, prompt: str, size: int, steps: int, seed: int) -> dict:
    import diffusers
    import torch
    from diffusers import TinyDiTPipeline, TinyDiTTransformer2DModel

    started = time.perf_counter()
    transformer = TinyDiTTransformer2DModel.from_pretrained(weights / "transformer", torch_dtype=torch.float32)
    pipe = TinyDiTPipeline(transformer=transformer.eval(), **tiny_components())
    pipe.set_progress_bar_config(disable=True)
    image = pipe(
        prompt=prompt,
        height=size,
        width=size,
        num_inference_steps=steps,
        guidance_scale=4.0,
        max_sequence_length=16,
        generator=torch.Generator("cpu").manual_seed(seed),
    ).images[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return {
        "png": str(out),
        "size": list(image.size),
        "mode": image.mode,
        "steps": steps,
        "prompt": prompt,
        "seconds": round(time.perf_counter() - started, 2),
        "diffusers": str(Path(diffusers.__file__).parent),
        "transformer_parameters": sum(p.numel() for p in transformer.parameters()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="The converted folder (with transformer/).")
    parser.add_argument("--out", required=True, help="The PNG to write.")
    parser.add_argument("--prompt", default="a tiny robot painting the sun over a red sea")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    facts = generate(Path(args.weights), Path(args.out), args.prompt, args.size, args.steps, args.seed)
    print(json.dumps(facts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
