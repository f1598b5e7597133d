#!/usr/bin/env python3
"""Time Hugging Face transformers' generate() on the CPU: the reference for
`cargo xtask bench-sampler`.

    python xtask/python/bench_hf_generate.py DIR --prompt-ids 1,2,3 --batch 1 --batch 16 \
        --new-tokens 64 [--threads N]

DIR is a checkpoint saved by o1p-model's save_pretrained (config.json + model.safetensors).
Every row of a batch gets the same prompt (no padding, as in the Rust benchmark), greedy
decoding, exactly --new-tokens tokens (min_new_tokens = max_new_tokens, so EOS cannot stop it
early), KV cache on. One untimed warm-up call per batch size comes first.

Prints one JSON object on stdout:

    {"versions": {"torch": str, "transformers": str}, "threads": int,
     "results": [{"batch": int, "new_tokens": int, "seconds": float, "tokens_per_s": float}]}
"""

import argparse
import json
import time

import torch
import transformers
from transformers import AutoModelForCausalLM


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--prompt-ids", required=True)
    ap.add_argument("--batch", type=int, action="append", required=True)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32)
    model.eval()
    prompt = [int(x) for x in args.prompt_ids.split(",") if x]
    results = []
    for batch in args.batch:
        ids = torch.tensor([prompt] * batch, dtype=torch.long)
        mask = torch.ones_like(ids)
        kwargs = dict(
            attention_mask=mask,
            do_sample=False,
            use_cache=True,
            pad_token_id=0,
            eos_token_id=None,
        )
        with torch.inference_mode():
            model.generate(ids, max_new_tokens=2, min_new_tokens=2, **kwargs)
            start = time.perf_counter()
            out = model.generate(
                ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, **kwargs
            )
            seconds = time.perf_counter() - start
        new = out.shape[1] - ids.shape[1]
        results.append(
            {
                "batch": batch,
                "new_tokens": int(new),
                "seconds": seconds,
                "tokens_per_s": batch * new / seconds,
            }
        )
    print(
        json.dumps(
            {
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                "threads": torch.get_num_threads(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
