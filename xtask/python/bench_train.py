#!/usr/bin/env python3
"""Time one PyTorch training step on the CPU: the reference for `cargo xtask bench-train`.

    python xtask/python/bench_train.py DIR --batch 8 --seq-len 128 --prompt-len 16 \
        --steps 5 --warmup 1 --threads 1 [--random-weights]

DIR is a Hugging Face model directory (config.json, and model.safetensors unless
--random-weights, which builds the config's shape with transformers' own random init; the
step's cost does not depend on the values). The step mirrors o1p-trainer's default O1-Pruner
step: the same synthetic tokens as the Rust side (token j of sequence i is
(131 i + 7 j + 3) mod vocab), inputs = tokens[:-1], targets = tokens[1:], loss on response
targets only; log-softmax + gather; sequence ratio exp(sum(logp - ref)) against reference
log-probs computed once before the loop; clipped objective with eps 0.2 and advantages +1/-1
alternating; mean over sequences; backward; clip_grad_norm_(10); AdamW step (lr 1e-5, betas
0.9/0.999, no weight decay). Fresh sequences every step, as the Rust run. The first --warmup
steps are not timed.

Prints one JSON object on stdout:

    {"versions": {"torch": str, "transformers": str}, "threads": int, "params": int,
     "step_seconds": [float], "mean_step_seconds": float}
"""

import argparse
import json
import time

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM


def tokens(first: int, batch: int, seq_len: int, vocab: int) -> torch.Tensor:
    rows = [[((i * 131 + j * 7 + 3) % vocab) for j in range(seq_len)] for i in range(first, first + batch)]
    return torch.tensor(rows, dtype=torch.long)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq-len", type=int, required=True)
    ap.add_argument("--prompt-len", type=int, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--random-weights", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.random_weights:
        config = AutoConfig.from_pretrained(args.model_dir)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32)
    model.train()
    vocab = model.config.vocab_size
    steps = args.warmup + args.steps
    b, t, p = args.batch, args.seq_len, args.prompt_len

    # Target position j predicts token j + 1; response targets start at position p - 1.
    mask = torch.zeros(b, t - 1)
    mask[:, p - 1 :] = 1.0
    advantages = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(b)])

    def token_logprobs(ids: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=ids[:, :-1]).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        return logp.gather(-1, ids[:, 1:, None]).squeeze(-1) * mask

    # Reference log-probs of every step's batch, before training (precomputed, as ours).
    batches = [tokens(s * b, b, t, vocab) for s in range(steps)]
    with torch.no_grad():
        refs = [token_logprobs(ids) for ids in batches]

    optim = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.999), weight_decay=0.0)
    times = []
    for s in range(steps):
        start = time.perf_counter()
        logp = token_logprobs(batches[s])
        log_r = ((logp - refs[s]) * mask).sum(dim=1).clamp(-20.0, 20.0)
        r = log_r.exp()
        objective = torch.minimum(r * advantages, r.clamp(0.8, 1.2) * advantages)
        loss = -objective.mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    timed = times[args.warmup :]
    print(
        json.dumps(
            {
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                "threads": torch.get_num_threads(),
                "params": sum(p.numel() for p in model.parameters()),
                "step_seconds": timed,
                "mean_step_seconds": sum(timed) / len(timed),
            }
        )
    )


if __name__ == "__main__":
    main()
